//! Server-drawn charts: bars per day, stacked by series, as inline SVG (an askama template, so
//! every name in it is escaped), with the same figures in a table for screen readers. Values
//! are integers — money in minor units, or counts — so no floating point comes near money.

use askama::Template;

use crate::central::web::format;
use crate::central::web::i18n::Lang;
use crate::vocab::money::{Amount, Currency};
use crate::vocab::time::Timestamp;

const WIDTH: i64 = 640;
const HEIGHT: i64 = 240;
const LEFT: i64 = 64;
const RIGHT: i64 = 8;
const TOP: i64 = 10;
const BOTTOM: i64 = 28;
/// The colour class of the "other" band; series get `c0`…`c5`.
const OTHER_CLASS: &str = "c6";
const CLASSES: [&str; 6] = ["c0", "c1", "c2", "c3", "c4", "c5"];

/// What the values count.
#[derive(Debug, Clone, Copy)]
pub enum Unit {
    /// Minor units of the currency (kopecks for RUB).
    Money(Currency),
    Count,
}

/// One stacked band: a name and a value per day.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<i64>,
}

#[derive(Debug)]
pub struct Rect {
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
    pub class: &'static str,
    pub label: String,
}

#[derive(Debug)]
pub struct Tick {
    pub at: i64,
    pub label: String,
}

#[derive(Debug)]
pub struct LegendItem {
    pub class: &'static str,
    pub name: String,
}

#[derive(Debug)]
pub struct TableRow {
    pub day: String,
    pub cells: Vec<String>,
    pub total: String,
}

/// A drawn chart: the SVG's parts, its legend and its table.
#[derive(Debug, Template)]
#[template(path = "site/chart.html")]
pub struct Chart {
    pub id: &'static str,
    pub title: String,
    pub table_caption: String,
    pub day_header: String,
    pub total_header: String,
    pub empty_text: String,
    pub empty: bool,
    pub width: i64,
    pub height: i64,
    pub left: i64,
    pub base: i64,
    pub right_edge: i64,
    pub rects: Vec<Rect>,
    pub y_ticks: Vec<Tick>,
    pub x_ticks: Vec<Tick>,
    pub legend: Vec<LegendItem>,
    pub headers: Vec<String>,
    pub rows: Vec<TableRow>,
}

/// The texts a chart shows besides its data.
#[derive(Debug, Clone)]
pub struct ChartTexts {
    pub id: &'static str,
    pub title: String,
    pub table_caption: String,
    pub day_header: String,
    pub total_header: String,
    pub empty_text: String,
}

fn show(value: i64, unit: Unit, lang: Lang) -> String {
    match unit {
        Unit::Count => value.to_string(),
        Unit::Money(currency) => {
            let decimal = rust_decimal::Decimal::new(value, currency.minor_units());
            Amount::from_decimal(decimal).map(|a| format::money(a, currency, lang)).unwrap_or_default()
        }
    }
}

/// Draws `series` over `days` (oldest first; each series has one value per day).
pub fn draw(texts: ChartTexts, days: &[Timestamp], series: &[Series], unit: Unit, lang: Lang) -> Chart {
    let n = days.len().max(1) as i64;
    let totals: Vec<i64> =
        (0..days.len()).map(|d| series.iter().map(|s| s.values.get(d).copied().unwrap_or(0)).sum()).collect();
    let max = totals.iter().copied().max().unwrap_or(0);
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = (WIDTH - LEFT - RIGHT) / n;
    let bar = (slot * 3 / 4).max(1);
    let class_of = |i: usize| if i < CLASSES.len() { CLASSES[i] } else { OTHER_CLASS };
    let mut rects = Vec::new();
    for (d, day) in days.iter().enumerate() {
        let mut stacked = 0i64;
        for (i, s) in series.iter().enumerate() {
            let value = s.values.get(d).copied().unwrap_or(0);
            if value <= 0 || max == 0 {
                continue;
            }
            let y0 = plot_h * stacked / max;
            stacked += value;
            let y1 = plot_h * stacked / max;
            rects.push(Rect {
                x: LEFT + d as i64 * slot + (slot - bar) / 2,
                y: TOP + plot_h - y1,
                w: bar,
                h: (y1 - y0).max(1),
                class: class_of(i),
                label: format!("{}: {}, {}", format::day(*day, lang), s.name, show(value, unit, lang)),
            });
        }
    }
    let y_ticks = if max == 0 {
        Vec::new()
    } else {
        (0..=2).map(|k| Tick { at: TOP + plot_h - plot_h * k / 2, label: show(max * k / 2, unit, lang) }).collect()
    };
    let x_ticks = days
        .iter()
        .enumerate()
        .filter(|(d, _)| (d % 7 == 0 && d + 4 < days.len()) || *d + 1 == days.len())
        .map(|(d, day)| Tick { at: LEFT + d as i64 * slot + slot / 2, label: format::short_day(*day) })
        .collect();
    let rows = days
        .iter()
        .enumerate()
        .filter(|(d, _)| totals[*d] > 0)
        .map(|(d, day)| TableRow {
            day: format::day(*day, lang),
            cells: series.iter().map(|s| show(s.values.get(d).copied().unwrap_or(0), unit, lang)).collect(),
            total: show(totals[d], unit, lang),
        })
        .collect();
    Chart {
        id: texts.id,
        title: texts.title,
        table_caption: texts.table_caption,
        day_header: texts.day_header,
        total_header: texts.total_header,
        empty_text: texts.empty_text,
        empty: max == 0,
        width: WIDTH,
        height: HEIGHT,
        left: LEFT,
        base: TOP + plot_h,
        right_edge: WIDTH - RIGHT,
        rects,
        y_ticks,
        x_ticks,
        legend: series
            .iter()
            .enumerate()
            .map(|(i, s)| LegendItem { class: class_of(i), name: s.name.clone() })
            .collect(),
        headers: series.iter().map(|s| s.name.clone()).collect(),
        rows,
    }
}

/// The `days` days ending with today (UTC), oldest first, each as its midnight.
pub fn last_days(now: Timestamp, days: i64) -> Vec<Timestamp> {
    let today = now.unix_s().div_euclid(86_400) * 86_400;
    (0..days).rev().map(|back| Timestamp::from_unix_ms((today - back * 86_400) * 1000)).collect()
}

/// The index in `days` (from `last_days`) of the day `at` falls on.
pub fn day_index(days: &[Timestamp], at: Timestamp) -> Option<usize> {
    let first = days.first()?.unix_s();
    let index = (at.unix_s() - first).div_euclid(86_400);
    usize::try_from(index).ok().filter(|i| *i < days.len())
}

/// An amount in the currency's minor units (whole kopecks for RUB).
pub fn minor_units(amount: Amount, currency: Currency) -> i64 {
    let scaled = amount.decimal() * rust_decimal::Decimal::from(10i64.pow(currency.minor_units()));
    i64::try_from(scaled.trunc()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts() -> ChartTexts {
        ChartTexts {
            id: "t",
            title: "Spending".to_owned(),
            table_caption: "Table".to_owned(),
            day_header: "Day".to_owned(),
            total_header: "Total".to_owned(),
            empty_text: "Nothing".to_owned(),
        }
    }

    #[test]
    fn bars_stack_series_and_the_table_lists_the_same_figures() {
        // Proves each day's bar is its series stacked, the tallest reaches the top, and the table carries the values and totals.
        let rub = Currency::parse("RUB").expect("RUB");
        let days = last_days(Timestamp::parse_rfc3339("2026-11-26T14:00:00Z").expect("t"), 3);
        assert_eq!(format::day(days[0], Lang::En), "2026-11-24");
        let series = vec![
            Series { name: "SMS <b>".to_owned(), values: vec![0, 1000, 500] },
            Series { name: "Campaign".to_owned(), values: vec![0, 1000, 0] },
        ];
        let chart = draw(texts(), &days, &series, Unit::Money(rub), Lang::En);
        assert!(!chart.empty);
        assert_eq!(chart.rects.len(), 3);
        let day1: Vec<&Rect> = chart.rects.iter().filter(|r| r.label.starts_with("2026-11-25")).collect();
        assert_eq!(day1.iter().map(|r| r.h).sum::<i64>(), HEIGHT - TOP - BOTTOM);
        assert_eq!(chart.rows.len(), 2, "days without spending are left out of the table");
        assert_eq!(chart.rows[0].total, "RUB 20.00");
        assert_eq!(chart.rows[1].cells, vec!["RUB 5.00".to_owned(), "RUB 0.00".to_owned()]);
        let svg = chart.render().expect("renders");
        assert!(svg.contains("SMS &#60;b&#62;") || svg.contains("SMS &lt;b&gt;"), "names are escaped: {svg}");
        assert!(svg.contains("role=\"img\""));
    }

    #[test]
    fn an_empty_chart_says_so_and_days_are_found_by_time() {
        // Proves a chart with no data draws no bars, and a time maps to its UTC day or to none outside the window.
        let days = last_days(Timestamp::parse_rfc3339("2026-11-26T00:00:00Z").expect("t"), 30);
        let chart = draw(texts(), &days, &[], Unit::Count, Lang::Ru);
        assert!(chart.empty && chart.rects.is_empty());
        assert_eq!(day_index(&days, Timestamp::parse_rfc3339("2026-11-26T23:59:59Z").expect("t")), Some(29));
        assert_eq!(day_index(&days, Timestamp::parse_rfc3339("2026-10-28T00:00:00Z").expect("t")), Some(0));
        assert_eq!(day_index(&days, Timestamp::parse_rfc3339("2026-10-27T23:59:59Z").expect("t")), None);
        let rub = Currency::parse("RUB").expect("RUB");
        assert_eq!(minor_units(Amount::parse_stored("12.34").expect("a"), rub), 1234);
    }
}
