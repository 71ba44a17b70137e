//! The one way an enum is named on the command line: [`Named`] (every value, in the order
//! `--help` lists them, and the name of each), [`parser`] (the clap value parser offering
//! exactly those names) and [`named!`] (which implements both `Named` and `Display` from an
//! enum's `ALL` and `as_str`).

use clap::builder::{PossibleValuesParser, TypedValueParser};

/// An enum whose values have names (on the command line, in messages and reports).
pub(crate) trait Named: Copy + Send + Sync + 'static {
    /// Every value, in the order `--help` lists them.
    const ALL: &'static [Self];

    /// The value's name.
    fn name(self) -> &'static str;

    /// The value called `name`, if any.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == name)
    }
}

/// A clap value parser offering exactly the names of `T` (clap lists them in `--help` and in
/// its error), turned into the value.
pub(crate) fn parser<T: Named>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(T::ALL.iter().map(|v| v.name()))
        .try_map(|name| T::from_name(&name).ok_or_else(|| format!("unknown value {name:?}")))
}

/// Implements [`Named`] and `Display` for `$ty` by its `ALL` and `as_str`.
macro_rules! named {
    ($ty:ty) => {
        impl $crate::names::Named for $ty {
            const ALL: &'static [Self] = &<$ty>::ALL;

            fn name(self) -> &'static str {
                self.as_str()
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use named;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Two {
        A,
        B,
    }

    impl Two {
        const ALL: [Two; 2] = [Two::A, Two::B];

        const fn as_str(self) -> &'static str {
            match self {
                Two::A => "a",
                Two::B => "b-b",
            }
        }
    }

    named!(Two);

    /// Every name reads back as its value; any other name as none.
    #[test]
    fn names_round_trip() {
        for v in Two::ALL {
            assert_eq!(Two::from_name(v.name()), Some(v));
            assert_eq!(v.to_string(), v.as_str());
        }
        assert_eq!(Two::from_name("c"), None);
        assert_eq!(Two::from_name("B-B"), None);
    }
}
