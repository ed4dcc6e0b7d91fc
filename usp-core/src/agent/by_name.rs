//! [`ByName`]: the agent's per-controller (and per-row) state, sorted by name in a `Vec`.
//!
//! The agent keeps a handful of maps from a controller's Endpoint ID (or a controller row's
//! path) to its state: return paths, E2E settings and sessions, `Periodic!` schedules,
//! onboarding procedures. Each `BTreeMap<String, V>` linked its own insertion, removal,
//! rebalancing and teardown code for its value type, several KB each of the router build
//! (issue #8), for maps of at most [`AgentConfig::max_routes`](super::AgentConfig::max_routes)
//! entries. A sorted `Vec` searched by bisection keeps a map's order, lookups and bound for a
//! fraction of that code.

use std::string::String;
use std::vec::Vec;

/// Values by name, in the order of their names (as a `BTreeMap<String, V>` iterates).
#[derive(Clone, Debug)]
pub(crate) struct ByName<V>(Vec<(String, V)>);

impl<V> Default for ByName<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<V> ByName<V> {
    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| n.as_str().cmp(name))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&V> {
        let index = self.find(name).ok()?;
        self.0.get(index).map(|(_, value)| value)
    }

    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut V> {
        let index = self.find(name).ok()?;
        self.0.get_mut(index).map(|(_, value)| value)
    }

    pub(crate) fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// Sets the value of `name`, returning the one it replaced.
    pub(crate) fn insert(&mut self, name: String, value: V) -> Option<V> {
        match self.find(&name) {
            Ok(index) => self
                .0
                .get_mut(index)
                .map(|slot| core::mem::replace(&mut slot.1, value)),
            Err(index) => {
                self.0.insert(index, (name, value));
                None
            }
        }
    }

    /// Sets the value of `name` in a map of at most `max` entries (at least 1): a new name
    /// makes room by dropping the first name in order.
    pub(crate) fn insert_bounded(&mut self, name: &str, value: V, max: usize) {
        match self.find(name) {
            Ok(index) => {
                if let Some(slot) = self.0.get_mut(index) {
                    slot.1 = value;
                }
            }
            Err(index) => {
                let index = if self.0.len() >= max.max(1) {
                    self.0.remove(0);
                    index.saturating_sub(1)
                } else {
                    index
                };
                self.0.insert(index, (name.into(), value));
            }
        }
    }

    pub(crate) fn remove(&mut self, name: &str) -> Option<V> {
        let index = self.find(name).ok()?;
        Some(self.0.remove(index).1)
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.0.iter().map(|(name, value)| (name, value))
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&String, &mut V)> {
        self.0.iter_mut().map(|(name, value)| (&*name, value))
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(name, _)| name)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, value)| value)
    }

    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.iter_mut().map(|(_, value)| value)
    }
}

impl<V> IntoIterator for ByName<V> {
    type Item = (String, V);
    type IntoIter = std::vec::IntoIter<(String, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(map: &ByName<u32>) -> Vec<(&str, u32)> {
        map.iter().map(|(name, v)| (name.as_str(), *v)).collect()
    }

    #[test]
    fn kept_by_name_and_bounded_as_a_map_would_be() {
        let mut map = ByName::default();
        for (name, value) in [("c", 1), ("a", 2), ("c", 3)] {
            map.insert_bounded(name, value, 3);
        }
        assert_eq!(listed(&map), [("a", 2), ("c", 3)]);
        // Full: the first name in order makes room, whichever comes.
        map.insert_bounded("b", 4, 3);
        map.insert_bounded("0", 5, 3);
        assert_eq!(listed(&map), [("0", 5), ("b", 4), ("c", 3)]);
        map.insert_bounded("d", 6, 3);
        assert_eq!(listed(&map), [("b", 4), ("c", 3), ("d", 6)]);
        // A known name is replaced in place, even when full.
        map.insert_bounded("b", 7, 3);
        assert_eq!(listed(&map), [("b", 7), ("c", 3), ("d", 6)]);
        assert_eq!(map.get("c"), Some(&3));
        assert_eq!(map.remove("c"), Some(3));
        assert!(!map.contains_key("c") && map.contains_key("b"));
        assert_eq!(map.get("c"), None);
        assert_eq!(map.remove("c"), None);
    }

    #[test]
    fn inserts_replace_and_keep_the_order() {
        let mut map = ByName::default();
        assert_eq!(map.insert("m".into(), 1), None);
        assert_eq!(map.insert("b".into(), 2), None);
        assert_eq!(map.insert("m".into(), 3), Some(1));
        assert_eq!(map.insert("z".into(), 4), None);
        if let Some(value) = map.get_mut("m") {
            *value += 100;
        }
        assert_eq!(listed(&map), [("b", 2), ("m", 103), ("z", 4)]);
        let names: Vec<String> = map.into_iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["b", "m", "z"]);
    }
}
