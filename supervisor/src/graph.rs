//! Dependency graphs between services: cycles.

use std::collections::BTreeMap;

/// Edges from each service to the services it depends on.
pub type Graph<'a> = BTreeMap<&'a str, Vec<&'a str>>;

/// Every cycle worth reporting, each as a path that starts and ends with the same
/// service (["a", "b", "a"]). Each cycle found has its edges taken out before the next
/// search, so every tangle is reported once, by one of its loops.
pub fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let mut remaining = graph.clone();
    let mut found = Vec::new();
    while let Some(cycle) = find_cycle(&remaining) {
        for pair in cycle.windows(2) {
            if let Some(edges) = remaining.get_mut(pair[0].as_str()) {
                edges.retain(|to| *to != pair[1]);
            }
        }
        found.push(cycle);
    }
    found
}

/// One cycle, by depth-first search in name order (so the answer is deterministic).
pub fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    let mut done: Vec<&str> = Vec::new();
    for start in graph.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = visit(graph, start, &mut path, &mut done) {
            return Some(cycle);
        }
    }
    None
}

fn visit<'a>(
    graph: &Graph<'a>,
    node: &'a str,
    path: &mut Vec<&'a str>,
    done: &mut Vec<&'a str>,
) -> Option<Vec<String>> {
    if let Some(position) = path.iter().position(|on_path| *on_path == node) {
        let mut cycle: Vec<String> = path[position..].iter().map(|name| name.to_string()).collect();
        cycle.push(node.to_owned());
        return Some(cycle);
    }
    if done.contains(&node) {
        return None;
    }
    path.push(node);
    for next in graph.get(node).into_iter().flatten() {
        if let Some(cycle) = visit(graph, next, path, done) {
            return Some(cycle);
        }
    }
    path.pop();
    done.push(node);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    type Edges<'a> = [(&'a str, &'a [&'a str])];

    fn graph<'a>(edges: &Edges<'a>) -> Graph<'a> {
        edges.iter().map(|(from, to)| (*from, to.to_vec())).collect()
    }

    #[test]
    fn finds_cycles() {
        let cases: [(&Edges, &[&[&str]]); 5] = [
            (&[("a", &["b"]), ("b", &[])], &[]),
            (&[("a", &["b"]), ("b", &["a"])], &[&["a", "b", "a"]]),
            (&[("a", &["a"])], &[&["a", "a"]]),
            (&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &["a"])], &[&["a", "b", "c", "a"]]),
            (&[("a", &["b"]), ("b", &["a"]), ("c", &["d"]), ("d", &["c"])], &[&["a", "b", "a"], &["c", "d", "c"]]),
        ];
        for (edges, want) in cases {
            let want: Vec<Vec<String>> = want.iter().map(|c| c.iter().map(|s| s.to_string()).collect()).collect();
            assert_eq!(cycles(&graph(edges)), want, "{edges:?}");
        }
    }

    #[test]
    fn diamond_is_not_a_cycle() {
        let edges: &Edges = &[("a", &["b", "c"]), ("b", &["d"]), ("c", &["d"]), ("d", &[])];
        assert_eq!(find_cycle(&graph(edges)), None);
    }
}
