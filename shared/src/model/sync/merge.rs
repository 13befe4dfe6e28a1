//! The merge rules, as pure functions over a record's per-field clocks.
//!
//! | what arrives | rule |
//! |---|---|
//! | an update of field `f` at `t` | it wins if `f` has no clock yet or its clock is older than `t`; the field's value and clock become the update's |
//! | an update whose fields all lose | nothing is written and nothing is pulled |
//! | a delete at `t` | it wins if the record has no delete clock or an older one; the record is gone while its delete clock is newer than every field clock |
//! | an update older than the delete | its fields still merge (so that the order of arrival cannot matter) but the record stays gone |
//! | an update newer than the delete | the record comes back, with every field as merged |
//!
//! Because each field and the delete keep only their newest write, applying the same mutations
//! in any order, any number of times, gives the same record: that is what makes devices converge.

use std::collections::BTreeMap;

use super::hlc::Hlc;

/// The key of the delete clock in `field_clocks`.
pub const DELETED: &str = "_deleted";

/// A record's clocks: field name to the clock of the write that set it, and [`DELETED`].
pub type Clocks = BTreeMap<String, Hlc>;

/// An update of `fields` at `at`: the fields that win, and the clocks after it.
pub fn update<'a>(
    clocks: &Clocks,
    fields: impl IntoIterator<Item = &'a str>,
    at: &Hlc,
) -> (Vec<&'a str>, Clocks) {
    let mut after = clocks.clone();
    let mut winners = Vec::new();
    for field in fields {
        if clocks.get(field).is_none_or(|clock| clock < at) {
            winners.push(field);
            after.insert(field.to_owned(), at.clone());
        }
    }
    (winners, after)
}

/// A delete at `at`: the clocks after it (unchanged when a newer delete is already recorded).
pub fn delete(clocks: &Clocks, at: &Hlc) -> Clocks {
    let mut after = clocks.clone();
    if clocks.get(DELETED).is_none_or(|clock| clock < at) {
        after.insert(DELETED.to_owned(), at.clone());
    }
    after
}

/// Is a record with these clocks live (never deleted, or written to after its delete)?
pub fn alive(clocks: &Clocks) -> bool {
    match clocks.get(DELETED) {
        None => true,
        Some(deleted) => clocks
            .iter()
            .any(|(field, clock)| field != DELETED && clock > deleted),
    }
}

/// [`alive`], judged on `fields` (the ones devices write) and the delete only: a column the
/// server alone writes (an erasure's, a photo's) may be stamped after a delete without bringing
/// the record back.
pub fn alive_among(clocks: &Clocks, fields: &[&str]) -> bool {
    match clocks.get(DELETED) {
        None => true,
        Some(deleted) => fields
            .iter()
            .any(|field| clocks.get(*field).is_some_and(|clock| clock > deleted)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64, node: &str) -> Hlc {
        Hlc::new(ms, 0, node).unwrap()
    }

    #[test]
    fn the_newer_clock_wins_field_by_field() {
        let clocks = Clocks::from([("text".into(), at(20, "a")), ("status".into(), at(5, "a"))]);
        let (winners, after) = update(&clocks, ["text", "status", "choice_a"], &at(10, "b"));
        assert_eq!(winners, ["status", "choice_a"]);
        assert_eq!(after["text"], at(20, "a"));
        assert_eq!(after["status"], at(10, "b"));
    }

    #[test]
    fn equal_wall_times_are_ordered_by_node_so_every_replica_picks_the_same_winner() {
        let clocks = Clocks::from([("text".into(), at(10, "b"))]);
        assert!(update(&clocks, ["text"], &at(10, "a")).0.is_empty());
        assert_eq!(update(&clocks, ["text"], &at(10, "c")).0, ["text"]);
    }

    #[test]
    fn an_update_that_loses_everywhere_changes_no_clock() {
        let clocks = Clocks::from([("text".into(), at(20, "a"))]);
        let (winners, after) = update(&clocks, ["text"], &at(20, "a"));
        assert!(winners.is_empty());
        assert_eq!(after, clocks);
    }

    #[test]
    fn a_delete_wins_over_older_updates_and_a_newer_update_brings_the_record_back() {
        let created = update(&Clocks::new(), ["text"], &at(10, "a")).1;
        let deleted = delete(&created, &at(20, "b"));
        assert!(!alive(&deleted));
        let older = update(&deleted, ["status"], &at(15, "c")).1;
        assert!(
            !alive(&older),
            "an update older than the delete leaves it deleted"
        );
        let newer = update(&older, ["status"], &at(25, "c")).1;
        assert!(
            alive(&newer),
            "an update newer than the delete brings it back"
        );
        assert!(!alive(&delete(&newer, &at(30, "a"))));
        assert_eq!(
            delete(&newer, &at(19, "a")),
            newer,
            "an older delete is already superseded"
        );
    }

    /// Every order of the same writes ends in the same clocks and liveness.
    #[test]
    fn applying_writes_in_any_order_gives_the_same_record() {
        #[derive(Clone)]
        enum Write {
            Update(&'static [&'static str], Hlc),
            Delete(Hlc),
        }
        let writes = [
            Write::Update(&["text", "status"], at(10, "a")),
            Write::Delete(at(12, "b")),
            Write::Update(&["status"], at(11, "c")),
            Write::Update(&["text"], at(14, "a")),
            Write::Delete(at(13, "c")),
            Write::Update(&["choice_a"], at(9, "b")),
        ];
        let apply = |order: &[usize]| {
            order
                .iter()
                .fold(Clocks::new(), |clocks, &i| match &writes[i] {
                    Write::Update(fields, hlc) => update(&clocks, fields.iter().copied(), hlc).1,
                    Write::Delete(hlc) => delete(&clocks, hlc),
                })
        };
        let reference = apply(&[0, 1, 2, 3, 4, 5]);
        let mut seed = 7_u64;
        for _ in 0..200 {
            let mut order: Vec<usize> = (0..writes.len()).collect();
            for i in (1..order.len()).rev() {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                order.swap(i, (seed >> 33) as usize % (i + 1));
            }
            // Applying some writes twice changes nothing either.
            let mut twice = order.clone();
            twice.extend_from_slice(&order[..3]);
            assert_eq!(apply(&twice), reference, "order {twice:?}");
        }
        assert!(
            alive(&reference),
            "text at 14 is newer than the delete at 13"
        );
    }
}
