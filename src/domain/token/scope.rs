//! Scopes: the three permissions a token can carry (`check hold charge`) as a typed bit set.

use std::fmt;

/// One permission a customer can grant a company (DESIGN §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Read the balance (may the customer pay this much?).
    Check,
    /// Block funds for later capture.
    Hold,
    /// Debit the wallet.
    Charge,
}

impl Scope {
    /// Every scope, in canonical order.
    pub const ALL: [Scope; 3] = [Scope::Check, Scope::Hold, Scope::Charge];

    /// The name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Check => "check",
            Scope::Hold => "hold",
            Scope::Charge => "charge",
        }
    }

    /// The scope with exactly this name (case-sensitive, as RFC 6749 §3.3 says).
    pub fn parse(name: &str) -> Result<Scope, ScopeError> {
        match name {
            "check" => Ok(Scope::Check),
            "hold" => Ok(Scope::Hold),
            "charge" => Ok(Scope::Charge),
            _ => Err(ScopeError),
        }
    }

    const fn bit(self) -> u8 {
        match self {
            Scope::Check => 1,
            Scope::Hold => 2,
            Scope::Charge => 4,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope string named a scope PROTUS does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope")]
pub struct ScopeError;

/// A set of scopes. On the wire: space-separated names in canonical order (`check hold charge`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ScopeSet(u8);

impl ScopeSet {
    pub const EMPTY: ScopeSet = ScopeSet(0);
    pub const ALL: ScopeSet = ScopeSet(Scope::Check.bit() | Scope::Hold.bit() | Scope::Charge.bit());

    /// Parses an RFC 6749 scope string: names separated by spaces. Runs of spaces and repeated
    /// names are tolerated; the empty string is the empty set; an unknown name is an error.
    pub fn parse(text: &str) -> Result<ScopeSet, ScopeError> {
        text.split(' ')
            .filter(|name| !name.is_empty())
            .try_fold(ScopeSet::EMPTY, |set, name| Scope::parse(name).map(|scope| set.with(scope)))
    }

    /// This set plus `scope`.
    pub const fn with(self, scope: Scope) -> ScopeSet {
        ScopeSet(self.0 | scope.bit())
    }

    pub const fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// The scopes in both sets: how a token's scope meets its grant's current scope (DESIGN §4).
    pub const fn intersection(self, other: ScopeSet) -> ScopeSet {
        ScopeSet(self.0 & other.0)
    }

    pub const fn union(self, other: ScopeSet) -> ScopeSet {
        ScopeSet(self.0 | other.0)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub const fn is_subset_of(self, other: ScopeSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// The scopes in canonical order.
    pub fn iter(self) -> ScopeIter {
        ScopeIter { set: self, next: 0 }
    }
}

/// The scopes of a [`ScopeSet`], in canonical order.
#[derive(Debug, Clone)]
pub struct ScopeIter {
    set: ScopeSet,
    next: usize,
}

impl Iterator for ScopeIter {
    type Item = Scope;

    fn next(&mut self) -> Option<Scope> {
        while let Some(&scope) = Scope::ALL.get(self.next) {
            self.next += 1;
            if self.set.contains(scope) {
                return Some(scope);
            }
        }
        None
    }
}

impl IntoIterator for ScopeSet {
    type Item = Scope;
    type IntoIter = ScopeIter;

    fn into_iter(self) -> ScopeIter {
        self.iter()
    }
}

impl From<Scope> for ScopeSet {
    fn from(scope: Scope) -> Self {
        ScopeSet::EMPTY.with(scope)
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(scopes: I) -> Self {
        scopes.into_iter().fold(ScopeSet::EMPTY, ScopeSet::with)
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScopeSet({:?})", self.to_string())
    }
}

impl serde::Serialize for ScopeSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ScopeSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = ScopeSet;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a space-separated subset of `check hold charge`")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ScopeSet, E> {
                ScopeSet::parse(text).map_err(E::custom)
            }
        }

        d.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_tolerates_spaces_and_duplicates_and_prints_canonically() {
        // Proves parsing is order-, duplicate- and space-insensitive and Display is canonical.
        let set = ScopeSet::parse("  charge check  charge ").expect("known scopes");
        assert_eq!(set.to_string(), "check charge");
        assert_eq!(ScopeSet::parse("hold charge check").expect("known scopes"), ScopeSet::ALL);
        assert_eq!(ScopeSet::ALL.to_string(), "check hold charge");
        assert_eq!(ScopeSet::parse("").expect("empty is allowed"), ScopeSet::EMPTY);
        assert_eq!(ScopeSet::EMPTY.to_string(), "");
    }

    #[test]
    fn unknown_or_miscased_names_are_refused() {
        // Proves a scope PROTUS does not have, or a differently cased one, is an error.
        assert_eq!(ScopeSet::parse("check read"), Err(ScopeError));
        assert_eq!(ScopeSet::parse("Check"), Err(ScopeError));
        assert_eq!(ScopeSet::parse("check\thold"), Err(ScopeError));
    }

    #[test]
    fn set_operations_follow_the_bits() {
        // Proves contains, intersection, union, subset, emptiness and iteration order.
        let check_hold = ScopeSet::from_iter([Scope::Hold, Scope::Check]);
        let hold_charge = ScopeSet::from(Scope::Hold).with(Scope::Charge);
        assert!(check_hold.contains(Scope::Check) && !check_hold.contains(Scope::Charge));
        assert_eq!(check_hold.intersection(hold_charge), ScopeSet::from(Scope::Hold));
        assert_eq!(check_hold.union(hold_charge), ScopeSet::ALL);
        assert!(ScopeSet::from(Scope::Hold).is_subset_of(check_hold));
        assert!(!hold_charge.is_subset_of(check_hold));
        assert!(ScopeSet::EMPTY.is_subset_of(ScopeSet::EMPTY) && ScopeSet::EMPTY.is_empty());
        assert!(check_hold.intersection(ScopeSet::from(Scope::Charge)).is_empty());
        assert_eq!(ScopeSet::ALL.iter().collect::<Vec<_>>(), Scope::ALL.to_vec());
        assert_eq!(hold_charge.into_iter().collect::<Vec<_>>(), vec![Scope::Hold, Scope::Charge]);
    }

    #[test]
    fn serde_is_the_canonical_string() {
        // Proves the JSON form is the space-separated string and unknown names fail to deserialize.
        let set = ScopeSet::parse("charge check").expect("known scopes");
        assert_eq!(serde_json::to_string(&set).expect("serializable"), "\"check charge\"");
        let back: ScopeSet = serde_json::from_str("\"check  charge\"").expect("known scopes");
        assert_eq!(back, set);
        assert!(serde_json::from_str::<ScopeSet>("\"check admin\"").is_err());
        assert!(serde_json::from_str::<ScopeSet>("7").is_err());
    }
}
