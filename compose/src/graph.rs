//! The service dependency graph: who must start before whom.
//!
//! Edges come from `depends_on`, `links`, `network_mode: service:X`, `volumes_from` (service
//! form) and `ipc`/`pid: service:X`. An edge `a -> b` means `a` needs `b`. Start order is
//! computed as levels (every service one level above its deepest dependency) so independent
//! services start together; stop order is the reverse. Self-references are left out (the
//! validator reports them on their own).

use std::collections::HashMap;
use std::fmt::Write as _;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::model::Project;

/// Why one service needs another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// `depends_on`.
    DependsOn,
    /// `links`.
    Link,
    /// `network_mode: service:X`.
    NetworkMode,
    /// `volumes_from: [X]`.
    VolumesFrom,
    /// `ipc: service:X`.
    Ipc,
    /// `pid: service:X`.
    Pid,
}

impl EdgeKind {
    /// The attribute name the edge comes from.
    pub fn label(self) -> &'static str {
        match self {
            EdgeKind::DependsOn => "depends_on",
            EdgeKind::Link => "links",
            EdgeKind::NetworkMode => "network_mode",
            EdgeKind::VolumesFrom => "volumes_from",
            EdgeKind::Ipc => "ipc",
            EdgeKind::Pid => "pid",
        }
    }
}

/// A dependency cycle, as the path of service names that closes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dependency cycle between services: {}", .0.join(" -> "))]
pub struct CycleError(pub Vec<String>);

/// The dependency graph of a project's active services.
#[derive(Debug, Clone)]
pub struct ServiceGraph {
    graph: DiGraph<String, EdgeKind>,
    index: HashMap<String, NodeIndex>,
}

fn service_target(v: &str) -> Option<&str> {
    v.strip_prefix("service:")
}

impl ServiceGraph {
    /// Builds the graph from every kind of dependency.
    pub fn new(project: &Project) -> Self {
        Self::build(project, true)
    }

    /// Builds the graph from `depends_on` only (which also holds the dependencies docker
    /// compose implies from the other attributes).
    pub(crate) fn depends_on_only(project: &Project) -> Self {
        Self::build(project, false)
    }

    fn build(project: &Project, all: bool) -> Self {
        let mut graph = DiGraph::with_capacity(project.services.len(), project.services.len());
        let mut index = HashMap::with_capacity(project.services.len());
        let mut names: Vec<&String> = project.services.keys().collect();
        names.sort();
        for name in names {
            index.insert(name.clone(), graph.add_node(name.clone()));
        }
        for (name, svc) in &project.services {
            let from = index[name];
            let mut edges: Vec<(&str, EdgeKind)> = svc
                .depends_on
                .keys()
                .map(|d| (d.as_str(), EdgeKind::DependsOn))
                .collect();
            if all {
                edges.extend(
                    svc.links
                        .iter()
                        .map(|l| (l.split(':').next().unwrap_or(l), EdgeKind::Link)),
                );
                let namespaced = [
                    (&svc.network_mode, EdgeKind::NetworkMode),
                    (&svc.ipc, EdgeKind::Ipc),
                    (&svc.pid, EdgeKind::Pid),
                ];
                for (value, kind) in namespaced {
                    if let Some(t) = value.as_deref().and_then(service_target) {
                        edges.push((t, kind));
                    }
                }
                for v in &svc.volumes_from {
                    if v.starts_with("container:") {
                        continue;
                    }
                    let v = v.strip_prefix("service:").unwrap_or(v);
                    edges.push((v.split(':').next().unwrap_or(v), EdgeKind::VolumesFrom));
                }
            }
            for (to, kind) in edges {
                if let Some(&to) = index.get(to)
                    && to != from
                    && graph.find_edge(from, to).is_none()
                {
                    graph.add_edge(from, to, kind);
                }
            }
        }
        ServiceGraph { graph, index }
    }

    /// Services `service` needs, sorted.
    pub fn dependencies(&self, service: &str) -> Vec<&str> {
        self.neighbors(service, Direction::Outgoing)
    }

    /// Services that need `service`, sorted.
    pub fn dependents(&self, service: &str) -> Vec<&str> {
        self.neighbors(service, Direction::Incoming)
    }

    fn neighbors(&self, service: &str, dir: Direction) -> Vec<&str> {
        let Some(&i) = self.index.get(service) else {
            return Vec::new();
        };
        let mut v: Vec<&str> = self
            .graph
            .neighbors_directed(i, dir)
            .map(|n| self.graph[n].as_str())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// A dependency cycle, if there is one: `[a, b, c, a]` for `a -> b -> c -> a`. The search
    /// is deterministic (by name), so the same project always reports the same cycle.
    pub fn find_cycle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        let n = self.graph.node_count();
        let mut mark = vec![Mark::New; n];
        let sorted_neighbors = |i: NodeIndex| {
            let mut v: Vec<NodeIndex> = self.graph.neighbors(i).collect();
            v.sort_by(|a, b| self.graph[*a].cmp(&self.graph[*b]));
            v
        };
        for start in self.graph.node_indices() {
            if mark[start.index()] != Mark::New {
                continue;
            }
            let mut stack: Vec<(NodeIndex, Vec<NodeIndex>)> =
                vec![(start, sorted_neighbors(start))];
            mark[start.index()] = Mark::Open;
            while let Some((node, pending)) = stack.last_mut() {
                let node = *node;
                match pending.pop() {
                    None => {
                        mark[node.index()] = Mark::Done;
                        stack.pop();
                    }
                    Some(next) => match mark[next.index()] {
                        Mark::Done => {}
                        Mark::Open => {
                            let pos = stack.iter().position(|(i, _)| *i == next).unwrap_or(0);
                            let mut path: Vec<String> = stack[pos..]
                                .iter()
                                .map(|(i, _)| self.graph[*i].clone())
                                .collect();
                            path.push(self.graph[next].clone());
                            return Some(path);
                        }
                        Mark::New => {
                            mark[next.index()] = Mark::Open;
                            let mut nb = sorted_neighbors(next);
                            nb.reverse();
                            stack.push((next, nb));
                        }
                    },
                }
            }
        }
        None
    }

    /// Services grouped by start level: level 0 needs nothing, each later level needs only
    /// earlier ones. Names are sorted inside a level.
    pub fn start_levels(&self) -> Result<Vec<Vec<String>>, CycleError> {
        let order = petgraph::algo::toposort(&self.graph, None)
            .map_err(|_| CycleError(self.find_cycle().unwrap_or_default()))?;
        let mut level = vec![0usize; self.graph.node_count()];
        // toposort puts dependents before their dependencies: walk it backwards.
        for &i in order.iter().rev() {
            level[i.index()] = self
                .graph
                .neighbors(i)
                .map(|d| level[d.index()] + 1)
                .max()
                .unwrap_or(0);
        }
        let depth = level.iter().copied().max().map_or(0, |m| m + 1);
        let mut levels = vec![Vec::new(); depth];
        for i in self.graph.node_indices() {
            levels[level[i.index()]].push(self.graph[i].clone());
        }
        for l in &mut levels {
            l.sort();
        }
        Ok(levels)
    }

    /// Services grouped by stop level: the reverse of [`Self::start_levels`].
    pub fn stop_levels(&self) -> Result<Vec<Vec<String>>, CycleError> {
        let mut levels = self.start_levels()?;
        levels.reverse();
        Ok(levels)
    }

    fn sorted_edges(&self) -> Vec<(&str, &str, EdgeKind)> {
        let mut edges: Vec<(&str, &str, EdgeKind)> = self
            .graph
            .edge_indices()
            .filter_map(|e| {
                let (a, b) = self.graph.edge_endpoints(e)?;
                Some((
                    self.graph[a].as_str(),
                    self.graph[b].as_str(),
                    self.graph[e],
                ))
            })
            .collect();
        edges.sort_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));
        edges
    }

    /// The graph in Graphviz DOT.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph services {\n  rankdir=LR;\n");
        for i in self.graph.node_indices() {
            let _ = writeln!(out, "  {:?};", self.graph[i]);
        }
        for (a, b, kind) in self.sorted_edges() {
            let _ = writeln!(out, "  {a:?} -> {b:?} [label={:?}];", kind.label());
        }
        out.push_str("}\n");
        out
    }

    /// The graph as a Mermaid flowchart.
    pub fn to_mermaid(&self) -> String {
        let id = |s: &str| -> String {
            s.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect()
        };
        let mut out = String::from("flowchart LR\n");
        for i in self.graph.node_indices() {
            let n = &self.graph[i];
            let _ = writeln!(out, "  {}[\"{n}\"]", id(n));
        }
        for (a, b, kind) in self.sorted_edges() {
            let _ = writeln!(out, "  {} -->|{}| {}", id(a), kind.label(), id(b));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use indexmap::IndexMap;

    use super::*;
    use crate::model::NormalizeContext;

    fn project(text: &str) -> Project {
        let doc = crate::yaml::parse(text, Path::new("g.yaml"))
            .unwrap()
            .remove(0);
        let env = IndexMap::new();
        let ctx = NormalizeContext {
            name: "g",
            working_dir: Path::new("/g"),
            environment: &env,
            profiles: &[],
        };
        Project::from_node(&doc, &ctx).unwrap_or_else(|e| panic!("{e}"))
    }

    const STACK: &str = "services:\n  web:\n    image: x\n    depends_on: [api, cache]\n  api:\n    image: x\n    depends_on: [db]\n  db: {image: x}\n  cache: {image: x}\n  worker:\n    image: x\n    volumes_from: [db]\n    network_mode: service:api\n  lone: {image: x}\n";

    #[test]
    fn start_levels_group_independent_services() {
        let g = ServiceGraph::new(&project(STACK));
        assert_eq!(
            g.start_levels().unwrap(),
            vec![
                vec!["cache", "db", "lone"],
                vec!["api"],
                vec!["web", "worker"]
            ]
        );
        let mut stop = g.stop_levels().unwrap();
        stop.reverse();
        assert_eq!(stop, g.start_levels().unwrap());
    }

    #[test]
    fn dependencies_and_dependents() {
        let g = ServiceGraph::new(&project(STACK));
        assert_eq!(g.dependencies("worker"), vec!["api", "db"]);
        assert_eq!(g.dependents("db"), vec!["api", "worker"]);
        assert!(g.dependencies("nope").is_empty());
    }

    #[test]
    fn dot_and_mermaid_output() {
        let g = ServiceGraph::new(&project(
            "services:\n  a:\n    image: x\n    depends_on: [b]\n    volumes_from: [c]\n  b: {image: x}\n  c: {image: x}\n",
        ));
        assert_eq!(
            g.to_dot(),
            "digraph services {\n  rankdir=LR;\n  \"a\";\n  \"b\";\n  \"c\";\n  \"a\" -> \"b\" [label=\"depends_on\"];\n  \"a\" -> \"c\" [label=\"depends_on\"];\n}\n"
        );
        assert_eq!(
            g.to_mermaid(),
            "flowchart LR\n  a[\"a\"]\n  b[\"b\"]\n  c[\"c\"]\n  a -->|depends_on| b\n  a -->|depends_on| c\n"
        );
    }

    #[test]
    fn cycles_are_found_deterministically() {
        let mut p = project("services:\n  a: {image: x}\n  b: {image: x}\n  c: {image: x}\n");
        for (from, to) in [("a", "b"), ("b", "c"), ("c", "b")] {
            p.services[from]
                .depends_on
                .insert(to.into(), crate::model::Dependency::default());
        }
        let g = ServiceGraph::new(&p);
        assert_eq!(g.find_cycle().unwrap(), vec!["b", "c", "b"]);
        let e = g.start_levels().unwrap_err();
        assert_eq!(
            e.to_string(),
            "dependency cycle between services: b -> c -> b"
        );
    }

    #[test]
    fn empty_project_has_no_levels() {
        let g = ServiceGraph::new(&Project::default());
        assert!(g.start_levels().unwrap().is_empty());
        assert!(g.find_cycle().is_none());
    }
}
