//! Composition: subgraph SDLs in, the supergraph SDL the engine serves out.
//!
//! `graphql-composition` does the Federation 2 composition. Its output is then passed through
//! [`join_root_types`], which adds what Hive Router's planner needs and the composer leaves
//! out (see that function). The result is checked the way the engine will read it: parsed and
//! turned into a query planner, so a supergraph that composes but cannot be served never
//! replaces a working one.

use std::collections::BTreeSet;
use std::fmt;

use hive_router::graphql_tools::parser::schema::{
    self as ast, Definition, Document, TypeDefinition,
};
use hive_router::graphql_tools::parser::{Pos, parse_schema};
use hive_router::query_planner::planner::{Planner, QueryPlannerOptions};

use crate::supergraph_config::SubgraphSdl;

/// Why a composition failed, one message per problem, as the composer words them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompositionErrors(pub Vec<String>);

impl fmt::Display for CompositionErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "supergraph composition failed:")?;
        for message in &self.0 {
            writeln!(f, "  - {message}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CompositionErrors {}

impl CompositionErrors {
    fn one(message: impl Into<String>) -> Self {
        Self(vec![message.into()])
    }
}

/// Composes the subgraphs into a supergraph SDL that Hive Router can plan queries on.
pub fn compose(subgraphs: &[SubgraphSdl]) -> Result<String, CompositionErrors> {
    let mut ingested = graphql_composition::Subgraphs::default();
    for subgraph in subgraphs {
        ingested
            .ingest_str(&subgraph.sdl, &subgraph.name, Some(&subgraph.routing_url))
            .map_err(|e| CompositionErrors::one(format!("subgraph {}: {e}", subgraph.name)))?;
    }
    let graph = graphql_composition::compose(&mut ingested)
        .into_result()
        .map_err(|diagnostics| {
            CompositionErrors(diagnostics.iter_errors().map(str::to_owned).collect())
        })?;
    let sdl = graphql_composition::render_federated_sdl(&graph)
        .map_err(|e| CompositionErrors::one(format!("rendering the supergraph: {e}")))?;
    let sdl = join_root_types(&sdl)?;
    check_plannable(&sdl)?;
    Ok(sdl)
}

/// Adds `@join__type(graph: G)` to each root operation type for every subgraph `G` that
/// contributes one of its fields.
///
/// The join spec says a type carries one `@join__type` per subgraph that defines it, and
/// Hive Router's planner (like Apollo's) builds its per-subgraph graph from exactly those
/// directives: a field is reachable in subgraph `G` only if its parent type is joined to `G`.
/// `graphql-composition` 0.12 emits `@join__field(graph: G)` on every root field but no
/// `@join__type` on the root types themselves (Grafbase's own gateway treats roots as present
/// in every subgraph), so the planner finds no subgraph that can start any operation ("No
/// paths found for selection item: me"). The fix belongs between the two: the composer's
/// result is a valid composition, and the engine reads the join spec as written. It is done
/// on the parsed supergraph rather than on text, so descriptions, arguments and formatting
/// of the composer's output cannot confuse it.
pub fn join_root_types(supergraph_sdl: &str) -> Result<String, CompositionErrors> {
    let mut document = parse_schema::<String>(supergraph_sdl)
        .map_err(|e| CompositionErrors::one(format!("parsing the composed supergraph: {e}")))?
        .into_static();
    let roots = root_type_names(&document);
    for definition in &mut document.definitions {
        let Definition::TypeDefinition(TypeDefinition::Object(object)) = definition else {
            continue;
        };
        if !roots.contains(object.name.as_str()) {
            continue;
        }
        let joined: BTreeSet<String> = object
            .directives
            .iter()
            .filter(|d| d.name == "join__type")
            .filter_map(graph_argument)
            .collect();
        let contributing: BTreeSet<String> = object
            .fields
            .iter()
            .flat_map(|field| field.directives.iter())
            .filter(|d| d.name == "join__field")
            .filter_map(graph_argument)
            .collect();
        for graph in contributing.difference(&joined) {
            object.directives.push(ast::Directive {
                position: Pos::default(),
                name: "join__type".to_owned(),
                arguments: vec![("graph".to_owned(), ast::Value::Enum(graph.clone()))],
            });
        }
    }
    Ok(document.to_string())
}

/// The names of the query, mutation and subscription types (the `schema` block's, or the
/// defaults).
fn root_type_names(document: &Document<'static, String>) -> BTreeSet<String> {
    let declared = document.definitions.iter().find_map(|d| match d {
        Definition::SchemaDefinition(schema) => Some(schema),
        _ => None,
    });
    match declared {
        Some(schema) => [&schema.query, &schema.mutation, &schema.subscription]
            .into_iter()
            .flatten()
            .cloned()
            .collect(),
        None => ["Query", "Mutation", "Subscription"]
            .into_iter()
            .map(str::to_owned)
            .collect(),
    }
}

fn graph_argument(directive: &ast::Directive<'static, String>) -> Option<String> {
    directive
        .arguments
        .iter()
        .find(|(name, _)| name == "graph")
        .and_then(|(_, value)| match value {
            ast::Value::Enum(graph) => Some(graph.clone()),
            _ => None,
        })
}

/// Fails unless the engine can load the supergraph and build its planner from it.
fn check_plannable(supergraph_sdl: &str) -> Result<(), CompositionErrors> {
    let document = parse_schema::<String>(supergraph_sdl)
        .map_err(|e| CompositionErrors::one(format!("parsing the composed supergraph: {e}")))?
        .into_static();
    Planner::new_from_supergraph(&document, QueryPlannerOptions::default())
        .map(|_| ())
        .map_err(|e| CompositionErrors::one(format!("the engine cannot plan on it: {e}")))
}
