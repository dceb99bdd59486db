//! Money: `Amount` over `rust_decimal`, never a float, never negative, with the wire rules of DESIGN §2.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::vocab::limits::request_amount_units_max;

/// The deployment's currency and its minor unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    code: &'static str,
    minor_units: u32,
}

/// Currencies PROTUS knows, with their ISO 4217 minor units.
const CURRENCIES: &[Currency] = &[
    Currency { code: "RUB", minor_units: 2 },
    Currency { code: "USD", minor_units: 2 },
    Currency { code: "EUR", minor_units: 2 },
    Currency { code: "GBP", minor_units: 2 },
    Currency { code: "JPY", minor_units: 0 },
];

impl Currency {
    pub fn parse(code: &str) -> Result<Self, AmountError> {
        let upper = code.trim().to_ascii_uppercase();
        CURRENCIES.iter().find(|c| c.code == upper).copied().ok_or(AmountError::UnknownCurrency)
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn minor_units(&self) -> u32 {
        self.minor_units
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

/// Why a text is not an acceptable amount; the messages are shown to API users.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("must be a decimal number in a string, like \"10.50\"")]
    NotADecimal,
    #[error("must be greater than zero")]
    NotPositive,
    #[error("must have at most {0} decimal places")]
    TooPrecise(u32),
    #[error("must not exceed 1000000000")]
    TooLarge,
    #[error("unknown currency")]
    UnknownCurrency,
}

/// Splits a plain decimal text into its whole part and its fraction without trailing zeros
/// ("1.230" → ("1", "23")). Only `[0-9]+(\.[0-9]+)?` is accepted: no sign, exponent, spaces or
/// separators.
fn plain_decimal(text: &str) -> Result<(&str, &str), AmountError> {
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 30 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || fraction.is_some_and(|f| !digits(f)) {
        return Err(AmountError::NotADecimal);
    }
    Ok((whole, fraction.unwrap_or("").trim_end_matches('0')))
}

/// The value of a split plain decimal, taken exactly: one `Decimal` cannot hold without rounding
/// (more than 28 significant decimals) is refused, never rounded.
fn exact_decimal(whole: &str, fraction: &str) -> Result<Decimal, AmountError> {
    let exact = if fraction.is_empty() {
        Decimal::from_str_exact(whole)
    } else {
        Decimal::from_str_exact(&format!("{whole}.{fraction}"))
    };
    exact.map_err(|_| AmountError::NotADecimal)
}

/// A non-negative quantity of money. Arithmetic is checked; there is no way to build a negative one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(Decimal);

impl Amount {
    pub const ZERO: Amount = Amount(Decimal::ZERO);

    /// Parses a request amount by the wire rules: plain decimal digits, positive, at most the
    /// currency's decimals, at most `request_amount_units_max`.
    pub fn parse_request(text: &str, currency: Currency) -> Result<Self, AmountError> {
        let (whole, fraction) = plain_decimal(text)?;
        if fraction.len() > currency.minor_units as usize {
            return Err(AmountError::TooPrecise(currency.minor_units));
        }
        let value = exact_decimal(whole, fraction)?;
        if value <= Decimal::ZERO {
            return Err(AmountError::NotPositive);
        }
        if value > Decimal::from(request_amount_units_max) {
            return Err(AmountError::TooLarge);
        }
        Ok(Amount(value.normalize()))
    }

    /// Parses a stored, non-negative amount of any size (balances, totals).
    pub fn parse_stored(text: &str) -> Result<Self, AmountError> {
        let value = Self::parse_decimal(text)?;
        if value < Decimal::ZERO {
            return Err(AmountError::NotPositive);
        }
        Ok(Amount(value.normalize()))
    }

    fn parse_decimal(text: &str) -> Result<Decimal, AmountError> {
        let (whole, fraction) = plain_decimal(text)?;
        exact_decimal(whole, fraction)
    }

    pub fn from_decimal(value: Decimal) -> Option<Self> {
        (value >= Decimal::ZERO).then(|| Amount(value.normalize()))
    }

    pub fn decimal(&self) -> Decimal {
        self.0
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(|d| Amount(d.normalize()))
    }

    /// `None` when the result would be negative.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        let d = self.0.checked_sub(other.0)?;
        (d >= Decimal::ZERO).then(|| Amount(d.normalize()))
    }

    /// Saturating at zero: `min(self, other)` taken out of `self`.
    pub fn saturating_sub(self, other: Amount) -> Amount {
        self.checked_sub(other).unwrap_or(Amount::ZERO)
    }

    pub fn min(self, other: Amount) -> Amount {
        if self <= other { self } else { other }
    }

    /// The canonical wire form for `currency`: exactly its minor-unit decimals (`"10.50"`).
    /// Rounding strategy: amounts are validated to the currency's precision on entry, so
    /// rescaling never drops digits; banker's rounding is stated only for completeness.
    pub fn to_wire(&self, currency: Currency) -> String {
        let mut value = self.0.round_dp_with_strategy(currency.minor_units, RoundingStrategy::MidpointNearestEven);
        value.rescale(currency.minor_units);
        value.to_string()
    }

    /// Storage form: the normalized decimal text.
    pub fn to_stored(&self) -> String {
        self.0.normalize().to_string()
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_stored())
    }
}

impl<'de> serde::Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Amount::parse_stored(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rub() -> Currency {
        Currency::parse("RUB").expect("RUB is known")
    }

    #[test]
    fn request_amounts_follow_the_wire_rules() {
        // Proves precision, sign, range and syntax checks of DESIGN §2.
        let rub = rub();
        assert_eq!(Amount::parse_request("10.5", rub).map(|a| a.to_wire(rub)), Ok("10.50".into()));
        assert_eq!(Amount::parse_request("3", rub).map(|a| a.to_wire(rub)), Ok("3.00".into()));
        assert_eq!(Amount::parse_request("1.230", rub).map(|a| a.to_wire(rub)), Ok("1.23".into()));
        assert_eq!(Amount::parse_request("0", rub), Err(AmountError::NotPositive));
        assert_eq!(Amount::parse_request("0.00", rub), Err(AmountError::NotPositive));
        assert_eq!(Amount::parse_request("-1", rub), Err(AmountError::NotADecimal));
        assert_eq!(Amount::parse_request("1.001", rub), Err(AmountError::TooPrecise(2)));
        assert_eq!(Amount::parse_request("1000000000.01", rub), Err(AmountError::TooLarge));
        assert!(Amount::parse_request("1000000000", rub).is_ok());
        for bad in ["", "1e3", " 1", "1,5", "+1", ".5", "5.", "NaN", "1.2.3"] {
            assert_eq!(Amount::parse_request(bad, rub), Err(AmountError::NotADecimal), "{bad}");
        }
        // Digits past what `Decimal` holds are refused, not rounded to an acceptable amount.
        for rounds_up in
            ["0.009999999999999999999999999999", "10.499999999999999999999999999999", "1.0000000000000000000000000001"]
        {
            assert_eq!(Amount::parse_request(rounds_up, rub), Err(AmountError::TooPrecise(2)), "{rounds_up}");
        }
        assert_eq!(
            Amount::parse_request("2.500000000000000000000000000000", rub).map(|a| a.to_wire(rub)),
            Ok("2.50".into())
        );
        assert_eq!(Amount::parse_stored("0.00000000000000000000000000001"), Err(AmountError::NotADecimal));
        assert_eq!(
            Amount::parse_stored("1.0000000000000000000000000001").map(|a| a.to_stored()),
            Ok("1.0000000000000000000000000001".into())
        );
        let jpy = Currency::parse("jpy").expect("JPY is known");
        assert_eq!(Amount::parse_request("1.5", jpy), Err(AmountError::TooPrecise(0)));
        assert_eq!(Amount::parse_request("15", jpy).map(|a| a.to_wire(jpy)), Ok("15".into()));
    }

    #[test]
    fn arithmetic_never_goes_negative() {
        // Proves checked subtraction refuses to produce a negative amount.
        let rub = rub();
        let ten = Amount::parse_request("10", rub).expect("valid");
        let three = Amount::parse_request("3.25", rub).expect("valid");
        assert_eq!(ten.checked_sub(three).map(|a| a.to_wire(rub)), Some("6.75".into()));
        assert_eq!(three.checked_sub(ten), None);
        assert_eq!(three.saturating_sub(ten), Amount::ZERO);
        assert_eq!(Amount::ZERO.to_wire(rub), "0.00");
    }
}
