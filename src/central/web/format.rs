//! How the web interface writes money and time in the page's language: `RUB 1,234.50` and
//! `2026-11-26 14:05 UTC` in English, `1 234,50 ₽` and `26.11.2026 14:05 UTC` in Russian.

use rust_decimal::RoundingStrategy;
use time::OffsetDateTime;

use crate::central::web::i18n::Lang;
use crate::vocab::money::{Amount, Currency};
use crate::vocab::time::Timestamp;

/// A no-break space: Russian groups digits with it and keeps the sign with the number.
const NBSP: char = '\u{a0}';

/// An amount with its currency and exactly the currency's minor digits, in `lang`'s style.
pub fn money(amount: Amount, currency: Currency, lang: Lang) -> String {
    let minor = currency.minor_units();
    // Stored amounts already have at most `minor` digits; rounding is only a guard and, should it
    // ever apply, rounds half away from zero as people round by hand.
    let value = amount.decimal().round_dp_with_strategy(minor, RoundingStrategy::MidpointAwayFromZero);
    let text = format!("{value:.prec$}", prec = minor as usize);
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    match lang {
        Lang::En => {
            let digits = group(whole, ',');
            if fraction.is_empty() {
                format!("{} {digits}", currency.code())
            } else {
                format!("{} {digits}.{fraction}", currency.code())
            }
        }
        Lang::Ru => {
            let digits = group(whole, NBSP);
            let number = if fraction.is_empty() { digits } else { format!("{digits},{fraction}") };
            format!("{number}{NBSP}{}", symbol_ru(currency))
        }
    }
}

/// A wire amount (`"10.50"`) in `lang`'s style; text that is not an amount is shown as it is.
pub fn money_text(wire: &str, currency: Currency, lang: Lang) -> String {
    Amount::parse_stored(wire).map(|a| money(a, currency, lang)).unwrap_or_else(|_| wire.to_owned())
}

/// An amount as typed in a form field of `lang` (`1234.50` / `1234,50`), without grouping.
pub fn amount_input(amount: Amount, currency: Currency, lang: Lang) -> String {
    let text = amount.to_wire(currency);
    match lang {
        Lang::En => text,
        Lang::Ru => text.replace('.', ","),
    }
}

/// What a person typed into an amount field, in the wire form the API parses: a decimal comma
/// becomes a point and grouping spaces go, so `1 234,50` is `1234.50`. Anything else is left
/// for the API's own check to refuse.
pub fn amount_from_input(typed: &str) -> String {
    typed.trim().chars().filter(|c| !c.is_whitespace() && *c != NBSP).map(|c| if c == ',' { '.' } else { c }).collect()
}

fn symbol_ru(currency: Currency) -> &'static str {
    match currency.code() {
        "RUB" => "₽",
        "USD" => "$",
        "EUR" => "€",
        other => other,
    }
}

/// `1234567` → `1,234,567` with `separator` between groups of three.
fn group(whole: &str, separator: char) -> String {
    let count = whole.chars().count();
    let mut out = String::with_capacity(whole.len() + count / 3 * separator.len_utf8());
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (count - i) % 3 == 0 {
            out.push(separator);
        }
        out.push(digit);
    }
    out
}

fn utc(at: Timestamp) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(at.unix_s()).ok()
}

/// Date and minute in UTC.
pub fn when(at: Timestamp, lang: Lang) -> String {
    let Some(t) = utc(at) else { return String::new() };
    match lang {
        Lang::En => {
            format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
        }
        Lang::Ru => {
            format!("{:02}.{:02}.{:04} {:02}:{:02} UTC", t.day(), u8::from(t.month()), t.year(), t.hour(), t.minute())
        }
    }
}

/// A wire time (RFC 3339) in `lang`'s style.
pub fn when_text(wire: &str, lang: Lang) -> String {
    Timestamp::parse_rfc3339(wire).map(|t| when(t, lang)).unwrap_or_else(|| wire.to_owned())
}

/// The day only (charts' axes and tables).
pub fn day(at: Timestamp, lang: Lang) -> String {
    let Some(t) = utc(at) else { return String::new() };
    match lang {
        Lang::En => format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()),
        Lang::Ru => format!("{:02}.{:02}.{:04}", t.day(), u8::from(t.month()), t.year()),
    }
}

/// The day as `dd.mm` for a chart's axis, the same in both languages.
pub fn short_day(at: Timestamp) -> String {
    utc(at).map(|t| format!("{:02}.{:02}", t.day(), u8::from(t.month()))).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rub() -> Currency {
        Currency::parse("RUB").expect("RUB")
    }

    fn amount(text: &str) -> Amount {
        Amount::parse_stored(text).expect("an amount")
    }

    #[test]
    fn money_is_written_the_way_each_language_writes_it() {
        // Proves the two formats issue 6 names, grouping, two decimals always, and small amounts.
        assert_eq!(money(amount("1234.50"), rub(), Lang::En), "RUB 1,234.50");
        assert_eq!(money(amount("1234.50"), rub(), Lang::Ru), "1\u{a0}234,50\u{a0}₽");
        assert_eq!(money(amount("1234567.5"), rub(), Lang::En), "RUB 1,234,567.50");
        assert_eq!(money(amount("1234567.5"), rub(), Lang::Ru), "1\u{a0}234\u{a0}567,50\u{a0}₽");
        assert_eq!(money(amount("0"), rub(), Lang::En), "RUB 0.00");
        assert_eq!(money(amount("3"), rub(), Lang::Ru), "3,00\u{a0}₽");
        assert_eq!(money(amount("999.99"), rub(), Lang::En), "RUB 999.99");
        assert_eq!(money(amount("100"), rub(), Lang::En), "RUB 100.00");
        assert_eq!(money(amount("1000000000"), rub(), Lang::En), "RUB 1,000,000,000.00");
    }

    #[test]
    fn other_currencies_keep_their_minor_units() {
        // Proves a zero-decimal currency shows no fraction and a foreign one keeps its code or sign.
        let jpy = Currency::parse("JPY").expect("JPY");
        assert_eq!(money(amount("1500"), jpy, Lang::En), "JPY 1,500");
        assert_eq!(money(amount("1500"), jpy, Lang::Ru), "1\u{a0}500\u{a0}JPY");
        let usd = Currency::parse("USD").expect("USD");
        assert_eq!(money(amount("12.5"), usd, Lang::Ru), "12,50\u{a0}$");
    }

    #[test]
    fn typed_amounts_become_wire_amounts() {
        // Proves a Russian-style "1 234,50" reaches the API as "1234.50", and junk stays junk for the API to refuse.
        assert_eq!(amount_from_input(" 1 234,50 "), "1234.50");
        assert_eq!(amount_from_input("1\u{a0}000"), "1000");
        assert_eq!(amount_from_input("10.5"), "10.5");
        assert_eq!(amount_from_input("ten"), "ten");
        assert_eq!(amount_input(amount("12.5"), rub(), Lang::Ru), "12,50");
        assert_eq!(money_text("not money", rub(), Lang::En), "not money");
    }

    #[test]
    fn times_are_utc_in_each_language_order() {
        // Proves dates read day-first in Russian and year-first in English, always marked UTC.
        let at = Timestamp::parse_rfc3339("2026-11-26T14:05:09Z").expect("time");
        assert_eq!(when(at, Lang::En), "2026-11-26 14:05 UTC");
        assert_eq!(when(at, Lang::Ru), "26.11.2026 14:05 UTC");
        assert_eq!(day(at, Lang::Ru), "26.11.2026");
        assert_eq!(short_day(at), "26.11");
        assert_eq!(when_text("2026-11-26T14:05:09Z", Lang::En), "2026-11-26 14:05 UTC");
    }
}
