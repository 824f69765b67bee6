#!/usr/bin/env python3
"""Writes catalog/products.jsonl: a realistic sample catalog for Herald's recommendations.

Deterministic (fixed seed, standard library only), so the committed file can be regenerated
byte for byte:  python3 subgraphs/recommendations/catalog/generate.py
"""

import json
import pathlib
import random

SEED = 20261126
PER_CATEGORY = 84  # 12 categories x 84 = 1,008 products
OUT_OF_STOCK_RATE = 0.07

# category -> (brands, product kinds with a price range, descriptors)
CATEGORIES = {
    "electronics": (
        ["Voltix", "Nordwave", "Lumio", "Arcadia", "Pixelon", "Sonora"],
        [("Wireless Earbuds", 29, 249), ("Bluetooth Speaker", 25, 299), ("USB-C Charger", 12, 69),
         ("Smartwatch", 79, 499), ("Noise-Cancelling Headphones", 89, 449), ("Power Bank", 19, 99),
         ("4K Streaming Stick", 29, 79), ("Mechanical Keyboard", 49, 229), ("Wireless Mouse", 15, 99),
         ("Webcam", 29, 199), ("Portable SSD", 59, 299), ("E-Reader", 89, 279)],
        ["Pro", "Mini", "Max", "Lite", "2", "Air", "S", "Plus"],
    ),
    "home & kitchen": (
        ["Casa Verde", "Hearthly", "Kitchenry", "Oakmere", "Brio", "Maison Blanc"],
        [("Chef's Knife", 25, 180), ("Cast Iron Skillet", 25, 120), ("French Press", 19, 69),
         ("Espresso Machine", 119, 899), ("Stand Mixer", 149, 549), ("Cutting Board", 15, 79),
         ("Dutch Oven", 49, 349), ("Electric Kettle", 25, 129), ("Knife Sharpener", 12, 89),
         ("Air Fryer", 59, 249), ("Blender", 39, 399), ("Pour-Over Coffee Set", 25, 89)],
        ["Classic", "Professional", "Compact", "Deluxe", "Essential", "Signature"],
    ),
    "books": (
        ["Penrose Press", "Lantern House", "Bluequill", "Harbor Books", "Meridian", "Inkwell"],
        [("Mystery Novel", 9, 29), ("Science Fiction Novel", 9, 29), ("Cookbook", 15, 49),
         ("Biography", 12, 39), ("History of Europe", 15, 45), ("Poetry Collection", 9, 25),
         ("Self-Help Guide", 10, 29), ("Children's Picture Book", 7, 22), ("Travel Guide", 12, 35),
         ("Graphic Novel", 12, 35), ("Programming Handbook", 29, 69), ("Fantasy Epic", 10, 32)],
        ["Vol. 1", "Vol. 2", "Illustrated Edition", "Paperback", "Hardcover", "Anniversary Edition"],
    ),
    "sports & outdoors": (
        ["Summit", "TrailForge", "Aquila", "Northpeak", "Stride", "Rivermark"],
        [("Yoga Mat", 15, 99), ("Trail Running Shoes", 69, 189), ("Camping Tent", 79, 499),
         ("Sleeping Bag", 39, 299), ("Water Bottle", 9, 45), ("Hiking Backpack", 49, 249),
         ("Resistance Bands", 9, 39), ("Adjustable Dumbbells", 59, 399), ("Cycling Helmet", 39, 199),
         ("Headlamp", 15, 79), ("Trekking Poles", 29, 149), ("Foam Roller", 12, 49)],
        ["2-Person", "Ultralight", "All-Weather", "Pro", "Trail", "Expedition"],
    ),
    "beauty": (
        ["Lumière", "Botanica", "Velvet & Co", "Pure Dew", "Aurelle", "Nordic Glow"],
        [("Vitamin C Serum", 15, 79), ("Moisturizer", 12, 69), ("Sunscreen SPF 50", 9, 39),
         ("Cleansing Balm", 12, 49), ("Lip Balm Set", 6, 24), ("Hair Dryer", 39, 399),
         ("Shampoo", 7, 35), ("Eye Cream", 15, 89), ("Face Mask Set", 9, 39), ("Perfume", 35, 180),
         ("Nail Polish Set", 9, 35), ("Makeup Brush Set", 15, 89)],
        ["Hydrating", "Sensitive", "Night", "Travel Size", "Organic", "Intensive"],
    ),
    "toys & games": (
        ["Playloft", "Bricksmith", "Wonderbox", "Kiddo", "Meeple & Co", "Starcraft Toys"],
        [("Building Blocks Set", 19, 149), ("Board Game", 19, 69), ("Jigsaw Puzzle 1000 pcs", 12, 35),
         ("Plush Bear", 9, 39), ("Remote Control Car", 25, 129), ("Card Game", 9, 29),
         ("Wooden Train Set", 29, 119), ("Science Kit", 19, 59), ("Dollhouse", 49, 199),
         ("Drone for Kids", 39, 149), ("Art Supplies Kit", 15, 49), ("Strategy Game", 29, 89)],
        ["Deluxe", "Family Edition", "Junior", "Classic", "Expansion", "Travel Edition"],
    ),
    "fashion": (
        ["Atelier Nord", "Denimworks", "Linden", "Coastline", "Urbanthread", "Wool & Pine"],
        [("Denim Jacket", 49, 179), ("Merino Sweater", 49, 189), ("Leather Belt", 19, 89),
         ("Sneakers", 49, 179), ("Rain Jacket", 59, 249), ("Cotton T-Shirt", 12, 45),
         ("Chinos", 35, 119), ("Wool Scarf", 19, 89), ("Ankle Boots", 69, 249),
         ("Sunglasses", 19, 199), ("Canvas Tote Bag", 15, 69), ("Beanie", 9, 39)],
        ["Slim Fit", "Relaxed", "Organic Cotton", "Limited", "Classic", "Heritage"],
    ),
    "grocery": (
        ["Green Valley", "Harvest Moon", "Old Mill", "Sunfield", "Alpine Dairy", "Terra"],
        [("Organic Coffee Beans 1kg", 14, 39), ("Green Tea 100 bags", 6, 19), ("Extra Virgin Olive Oil", 8, 35),
         ("Dark Chocolate Bar", 2, 9), ("Granola", 4, 12), ("Honey", 5, 19), ("Pasta 500g", 2, 8),
         ("Basmati Rice 5kg", 9, 25), ("Mixed Nuts", 6, 19), ("Maple Syrup", 8, 24),
         ("Sparkling Water 12-pack", 5, 15), ("Spice Set", 12, 45)],
        ["Organic", "Fair Trade", "Family Pack", "Single Origin", "Gluten-Free", "Artisan"],
    ),
    "pet supplies": (
        ["Pawsome", "Whisker & Tail", "Furlong", "Happy Hound", "Kitten Kaboodle", "BarkBox"],
        [("Dog Food 12kg", 39, 99), ("Cat Litter", 9, 35), ("Dog Leash", 9, 45), ("Cat Tree", 49, 199),
         ("Chew Toy", 5, 25), ("Pet Bed", 25, 129), ("Aquarium Filter", 19, 89), ("Bird Feeder", 12, 59),
         ("Grooming Brush", 9, 35), ("Cat Food 24 cans", 19, 49), ("Pet Carrier", 29, 129),
         ("Automatic Feeder", 39, 149)],
        ["Large", "Small Breed", "Grain-Free", "Indoor", "Orthopedic", "Senior"],
    ),
    "office supplies": (
        ["Papernest", "Deskwise", "Scriptorium", "Officio", "Linea", "Tabula"],
        [("Notebook A5", 5, 29), ("Fountain Pen", 15, 180), ("Desk Organizer", 15, 59),
         ("Ergonomic Chair", 149, 899), ("Standing Desk", 249, 899), ("Monitor Arm", 39, 199),
         ("Label Maker", 25, 99), ("Whiteboard", 25, 149), ("Desk Lamp", 25, 149),
         ("Gel Pens 12-pack", 6, 19), ("Paper Shredder", 39, 199), ("Planner 2027", 12, 39)],
        ["Dotted", "Professional", "Compact", "Executive", "Recycled", "Premium"],
    ),
    "garden": (
        ["Greenthumb", "Bloomfield", "Terracotta & Co", "Wildroot", "Gardenia", "Fernhill"],
        [("Pruning Shears", 15, 69), ("Garden Hose 25m", 25, 99), ("Raised Bed Kit", 49, 249),
         ("Seed Starter Kit", 12, 45), ("Watering Can", 12, 49), ("Compost Bin", 39, 149),
         ("Solar Path Lights", 19, 79), ("Gardening Gloves", 7, 29), ("Lawn Mower", 149, 699),
         ("Bird Bath", 29, 129), ("Planter Set", 19, 89), ("Leaf Blower", 59, 249)],
        ["Heavy-Duty", "Ergonomic", "Cordless", "Weatherproof", "Eco", "Large"],
    ),
    "automotive": (
        ["Roadwise", "Motorcraft", "Gearhead", "Autonova", "Pitstop", "Drivetech"],
        [("Dash Cam", 39, 249), ("Car Phone Mount", 12, 49), ("Tire Inflator", 29, 99),
         ("Jump Starter", 49, 179), ("Microfiber Towels 10-pack", 9, 29), ("Car Vacuum", 29, 129),
         ("Seat Organizer", 15, 49), ("LED Headlight Bulbs", 25, 99), ("Car Wax", 9, 39),
         ("OBD2 Scanner", 19, 129), ("Floor Mats", 29, 129), ("Roof Cargo Box", 199, 699)],
        ["Pro", "Universal", "Heavy-Duty", "Compact", "Premium", "All-Season"],
    ),
}


def price(rng, low, high):
    """A shop price: somewhere in the range, ending in .99, .95 or .49."""
    whole = rng.randint(low, high)
    return round(max(whole - 1, 0) + rng.choice([0.99, 0.95, 0.49]), 2)


def main():
    rng = random.Random(SEED)
    out = pathlib.Path(__file__).with_name("products.jsonl")
    lines = []
    number = 0
    for category, (brands, kinds, descriptors) in CATEGORIES.items():
        seen = set()
        made = 0
        while made < PER_CATEGORY:
            brand = rng.choice(brands)
            kind, low, high = rng.choice(kinds)
            descriptor = rng.choice(descriptors)
            name = f"{brand} {kind} {descriptor}"
            if name in seen:
                continue
            seen.add(name)
            made += 1
            number += 1
            lines.append(json.dumps({
                "id": f"p-{number:04d}",
                "name": name,
                "category": category,
                "price": price(rng, low, high),
                "in_stock": rng.random() >= OUT_OF_STOCK_RATE,
            }, ensure_ascii=False))
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} products in {len(CATEGORIES)} categories to {out}")


if __name__ == "__main__":
    main()
