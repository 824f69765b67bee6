#!/usr/bin/env python3
"""Writes Herald's Grafana dashboards (dashboards/*.json) from the panel lists below.

The JSON files are committed; edit this file and run `python3 dashboards/generate.py` rather
than editing the JSON by hand. `cargo test -p herald --test deploy_files` checks that every
metric a query names is one the code exports (crates/herald-service/src/metrics.rs, the
pipeline's metrics.rs) or that hive-router 0.2.19 exposes.
"""

import json
import pathlib

DS = {"type": "prometheus", "uid": "herald-prometheus"}
HERE = pathlib.Path(__file__).resolve().parent


def panel(title, exprs, unit="short", kind="timeseries", legend=None, width=12, description=None):
    if isinstance(exprs, str):
        exprs = [(exprs, legend)]
    targets = [
        {"datasource": DS, "expr": expr, "legendFormat": fmt or "__auto", "refId": chr(65 + i)}
        for i, (expr, fmt) in enumerate(exprs)
    ]
    p = {
        "type": kind,
        "title": title,
        "datasource": DS,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "gridPos": {"w": width, "h": 8},
    }
    if description:
        p["description"] = description
    if kind == "timeseries":
        p["options"] = {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]}}
    return p


def quantiles(metric, by="", selector="", window="5m"):
    group = f"le{', ' + by if by else ''}"
    return [
        (f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{selector}[{window}])))",
         f"p{int(q * 100)}" + (" {{" + by + "}}" if by else ""))
        for q in (0.5, 0.95, 0.99)
    ]


def dashboard(uid, title, description, panels):
    x = y = 0
    for i, p in enumerate(panels):
        w = p["gridPos"]["w"]
        if x + w > 24:
            x, y = 0, y + 8
        p["gridPos"].update({"x": x, "y": y})
        p["id"] = i + 1
        x += w
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["herald"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": panels,
    }


RATE = "5m"

overview = dashboard(
    "herald-overview",
    "Herald — platform overview",
    "Requests, latency and errors per service and route; GraphQL operations and errors by code.",
    [
        panel("Services up", "up", kind="stat", legend="{{job}}", width=24),
        panel("HTTP requests/s by service and route",
              f"sum by (service, route) (rate(http_server_requests_total[{RATE}]))",
              unit="reqps", legend="{{service}} {{route}}"),
        panel("HTTP 5xx ratio by service",
              f'sum by (service) (rate(http_server_requests_total{{status=~"5.."}}[{RATE}])) '
              f"/ sum by (service) (rate(http_server_requests_total[{RATE}]))",
              unit="percentunit", legend="{{service}}"),
        panel("HTTP p95 latency by service and route",
              f"histogram_quantile(0.95, sum by (le, service, route) "
              f"(rate(http_server_request_duration_seconds_bucket{{job!=\"router\"}}[{RATE}])))",
              unit="s", legend="{{service}} {{route}}"),
        panel("HTTP 4xx/5xx by service and status",
              f'sum by (service, status) (rate(http_server_requests_total{{status=~"[45].."}}[{RATE}]))',
              unit="reqps", legend="{{service}} {{status}}"),
        panel("GraphQL operations/s by service, type and outcome",
              f"sum by (service, operation_type, outcome) (rate(graphql_server_operations_total[{RATE}]))",
              unit="ops", legend="{{service}} {{operation_type}} {{outcome}}"),
        panel("GraphQL errors/s by code",
              f"sum by (service, code) (rate(graphql_server_errors_total[{RATE}]))",
              unit="ops", legend="{{service}} {{code}}"),
        panel("GraphQL p95 by operation",
              f"histogram_quantile(0.95, sum by (le, service, operation_name) "
              f"(rate(graphql_server_operation_duration_seconds_bucket[{RATE}])))",
              unit="s", legend="{{service}} {{operation_name}}"),
        panel("Events published/s by routing key and outcome",
              f"sum by (service, routing_key, outcome) (rate(herald_events_published_total[{RATE}]))",
              unit="ops", legend="{{service}} {{routing_key}} {{outcome}}"),
        panel("Outbox events awaiting RabbitMQ", "sum by (service) (herald_outbox_pending_events)",
              legend="{{service}}"),
        panel("Resident memory by process", "process_resident_memory_bytes", unit="bytes",
              legend="{{job}}"),
    ],
)

delivery = dashboard(
    "herald-delivery",
    "Herald — delivery pipeline",
    "RabbitMQ events in, BullMQ jobs, deliveries by channel and outcome, the dead-letter queue.",
    [
        panel("Dead-letter queue (jobs)",
              'sum(herald_jobs{queue="notifications-dlq", state=~"waiting|delayed|active"})',
              kind="stat", width=6,
              description="Deliveries that used up their attempts; slow retry and admin replay drain it."),
        panel("Jobs waiting", 'sum(herald_jobs{queue="notifications", state="waiting"})',
              kind="stat", width=6),
        panel("Failed jobs kept", 'sum by (queue) (herald_jobs{state="failed"})', kind="stat",
              width=6, legend="{{queue}}"),
        panel("Publish-to-inbox p95", quantiles("herald_publish_to_inbox_seconds")[1][0],
              unit="s", kind="stat", width=6),
        panel("BullMQ jobs by queue and state",
              'sum by (queue, state) (herald_jobs{state=~"waiting|active|delayed|failed"})',
              legend="{{queue}} {{state}}"),
        panel("Jobs processed/s by name and outcome",
              f"sum by (queue, name, outcome) (rate(herald_job_duration_seconds_count[{RATE}]))",
              unit="ops", legend="{{queue}} {{name}} {{outcome}}"),
        panel("Job duration", quantiles("herald_job_duration_seconds", by="name"), unit="s"),
        panel("Publish-to-inbox latency", quantiles("herald_publish_to_inbox_seconds"), unit="s",
              description="From the event's occurred_at (or the API call) to the notification in the inbox."),
        panel("Deliveries/s by channel and outcome",
              f"sum by (channel, outcome) (rate(herald_deliveries_total[{RATE}]))",
              unit="ops", legend="{{channel}} {{outcome}}"),
        panel("Events consumed/s by routing key and outcome",
              f"sum by (service, routing_key, outcome) (rate(herald_events_consumed_total[{RATE}]))",
              unit="ops", legend="{{service}} {{routing_key}} {{outcome}}"),
        panel("Events dead-lettered/s",
              f'sum by (service, routing_key) (rate(herald_events_consumed_total{{outcome="dead_lettered"}}[{RATE}]))',
              unit="ops", legend="{{service}} {{routing_key}}"),
        panel("notification.delivered / failed published/s",
              f'sum by (routing_key, outcome) (rate(herald_events_published_total{{routing_key=~"notification\\\\..*"}}[{RATE}]))',
              unit="ops", legend="{{routing_key}} {{outcome}}"),
    ],
)

recommendations = dashboard(
    "herald-recommendations",
    "Herald — recommendations engine",
    "Scoring latency, model rebuilds and recomputes, shoppers rescored, recommendation.generated published.",
    [
        panel("Products in the model", "max(herald_recommendation_model_products)", kind="stat", width=6),
        panel("Shoppers rescored (24h)", "sum(increase(herald_recommendation_users_scored_total[24h]))",
              kind="stat", width=6),
        panel("recommendation.generated published (24h)",
              "sum(increase(herald_recommendations_published_total[24h]))", kind="stat", width=6),
        panel("Scoring p95", quantiles("herald_recommendation_query_duration_seconds")[1][0],
              unit="s", kind="stat", width=6),
        panel("Scoring one shopper", quantiles("herald_recommendation_query_duration_seconds"), unit="s"),
        panel("Recommendations queries/s",
              f'sum by (operation_name, outcome) (rate(graphql_server_operations_total{{service="recommendations"}}[{RATE}]))',
              unit="ops", legend="{{operation_name}} {{outcome}}"),
        panel("Model rebuild duration", quantiles("herald_recommendation_model_rebuild_seconds", window="1h"),
              unit="s"),
        panel("Full recompute duration", quantiles("herald_recommendation_recompute_seconds", window="1h"),
              unit="s"),
        panel("Shoppers rescored/s", f"sum(rate(herald_recommendation_users_scored_total[{RATE}]))",
              unit="ops", legend="rescored"),
        panel("recommendation.generated published/s",
              f"sum(rate(herald_recommendations_published_total[{RATE}]))", unit="ops", legend="published"),
        panel("Activity events consumed/s",
              f'sum by (routing_key, outcome) (rate(herald_events_consumed_total{{service="recommendations"}}[{RATE}]))',
              unit="ops", legend="{{routing_key}} {{outcome}}"),
        panel("Rebuilds and recomputes/h",
              [("sum(increase(herald_recommendation_model_rebuild_seconds_count[1h]))", "model rebuilds"),
               ("sum(increase(herald_recommendation_recompute_seconds_count[1h]))", "full recomputes")]),
    ],
)

ROUTER = '{job="router"}'
router = dashboard(
    "herald-router",
    "Herald — router",
    "The federated endpoint (Hive Router 0.2.19 engine): client requests, subgraph calls, caches.",
    [
        panel("Requests/s", f"sum(rate(http_server_request_duration_seconds_count{ROUTER}[{RATE}]))",
              unit="reqps", kind="stat", width=6),
        panel("Error ratio",
              f'sum(rate(http_server_request_duration_seconds_count{{job="router", graphql_response_status="error"}}[{RATE}])) '
              f"/ sum(rate(http_server_request_duration_seconds_count{ROUTER}[{RATE}]))",
              unit="percentunit", kind="stat", width=6),
        panel("p95 latency", quantiles("http_server_request_duration_seconds", selector=ROUTER)[1][0],
              unit="s", kind="stat", width=6),
        panel("In flight", f"sum(http_server_active_requests{ROUTER})", kind="stat", width=6),
        panel("Requests/s by operation type and GraphQL status",
              f"sum by (graphql_operation_type, graphql_response_status) "
              f"(rate(http_server_request_duration_seconds_count{ROUTER}[{RATE}]))",
              unit="reqps", legend="{{graphql_operation_type}} {{graphql_response_status}}"),
        panel("Request latency", quantiles("http_server_request_duration_seconds", selector=ROUTER), unit="s"),
        panel("GraphQL errors/s by code", f"sum by (code) (rate(hive_router_graphql_errors_total[{RATE}]))",
              unit="ops", legend="{{code}}"),
        panel("Router overhead (excluding subgraph time)",
              quantiles("hive_router_request_overhead_duration_seconds"), unit="s"),
        panel("Subgraph requests/s",
              f"sum by (subgraph_name, graphql_response_status) "
              f"(rate(http_client_request_duration_seconds_count{ROUTER}[{RATE}]))",
              unit="reqps", legend="{{subgraph_name}} {{graphql_response_status}}"),
        panel("Subgraph p95 latency",
              f"histogram_quantile(0.95, sum by (le, subgraph_name) "
              f"(rate(http_client_request_duration_seconds_bucket{ROUTER}[{RATE}])))",
              unit="s", legend="{{subgraph_name}}"),
        panel("Cache hit ratio (parse, validate, normalize, plan)",
              [(f'sum(rate(hive_router_{c}_cache_requests_total{{result="hit"}}[{RATE}])) '
                f"/ sum(rate(hive_router_{c}_cache_requests_total[{RATE}]))", c)
               for c in ("parse", "validate", "normalize", "plan")],
              unit="percentunit"),
        panel("Supergraph reloads/h and processing time",
              [("sum(increase(hive_router_supergraph_poll_total[1h]))", "polls"),
               ("histogram_quantile(0.95, sum by (le) (rate(hive_router_supergraph_process_duration_seconds_bucket[1h])))",
                "p95 processing (s)")]),
        panel("Live subscriptions",
              [("sum(hive_router_subscriptions_clients_active)", "clients"),
               ("sum by (subgraph_name) (hive_router_subscriptions_subgraphs_active)",
                "to {{subgraph_name}}")]),
        panel("Response size p95",
              f"histogram_quantile(0.95, sum by (le) (rate(http_server_response_body_size_bytes_bucket{ROUTER}[{RATE}])))",
              unit="bytes", legend="p95"),
    ],
)

for name, board in [("herald-overview", overview), ("herald-delivery", delivery),
                    ("herald-recommendations", recommendations), ("herald-router", router)]:
    (HERE / f"{name}.json").write_text(json.dumps(board, indent=2) + "\n")
    print(f"wrote dashboards/{name}.json ({len(board['panels'])} panels)")
