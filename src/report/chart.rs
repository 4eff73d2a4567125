//! Charts of reports as SVG, drawn by `plotters` (its SVG backend only: no fonts or
//! bitmaps to load, so the binary serves them with nothing from outside). `paypki report
//! --format svg` and the console call the same functions.

use plotters::prelude::*;

use super::{Overview, PeriodTotals, Report};
use crate::model::Role;

/// Why a chart could not be drawn (plotters' drawing errors, as text).
#[derive(Debug, thiserror::Error)]
#[error("the chart could not be drawn: {0}")]
pub struct ChartError(String);

fn failed(error: impl std::fmt::Display) -> ChartError {
    ChartError(error.to_string())
}

/// The legend box, in a corner.
fn legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), ChartError>
where
    DB: DrawingBackend + 'a,
    CT: plotters::coord::CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(failed)
}

/// The series colours: issued, renewed, revoked, expired (distinguishable in greyscale
/// too: the lines also differ in width).
const ISSUED: RGBColor = RGBColor(0x1f, 0x6f, 0xb4);
const RENEWED: RGBColor = RGBColor(0x2c, 0xa0, 0x2c);
const REVOKED: RGBColor = RGBColor(0xd6, 0x27, 0x28);
const EXPIRED: RGBColor = RGBColor(0x7f, 0x7f, 0x7f);

/// A line per measure (issued, renewed, revoked, expired) over the report's periods,
/// summed over its roles.
pub fn report_svg(report: &Report, title: &str) -> Result<String, ChartError> {
    let totals = report.totals();
    let labels: Vec<String> = totals.iter().map(|t| t.period.clone()).collect();
    // Name, colour, line width, and the measure of a period.
    type Measure = fn(&PeriodTotals) -> u64;
    let measures: [(&str, RGBColor, u32, Measure); 4] = [
        ("issued", ISSUED, 2, |t| t.issued),
        ("renewed", RENEWED, 2, |t| t.renewed),
        ("revoked", REVOKED, 3, |t| t.revoked),
        ("expired", EXPIRED, 1, |t| t.expired),
    ];
    let series: Vec<(&str, RGBColor, u32, Vec<u64>)> = measures
        .iter()
        .map(|(name, colour, width, measure)| {
            (*name, *colour, *width, totals.iter().map(measure).collect())
        })
        .collect();
    let top = series
        .iter()
        .flat_map(|(_, _, _, values)| values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1)
        + 1;
    let last = labels.len().saturating_sub(1).max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 340)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(44)
            .build_cartesian_2d(0usize..last, 0u64..top)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .x_labels(8)
            .x_label_formatter(&|i| labels.get(*i).cloned().unwrap_or_default())
            .y_desc("certificates")
            .light_line_style(WHITE)
            .draw()
            .map_err(failed)?;
        for (name, colour, width, values) in series {
            chart
                .draw_series(LineSeries::new(
                    values.into_iter().enumerate(),
                    colour.stroke_width(width),
                ))
                .map_err(failed)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(width))
                });
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// Grouped bars: per role, the certificates expiring within 30, 60 and 90 days.
pub fn expiring_svg(overview: &Overview) -> Result<String, ChartError> {
    const SHADES: [RGBColor; 3] = [
        RGBColor(0xd6, 0x27, 0x28),
        RGBColor(0xff, 0x7f, 0x0e),
        RGBColor(0x1f, 0x6f, 0xb4),
    ];
    const NAMES: [&str; 3] = ["within 30 days", "within 60 days", "within 90 days"];
    let values: Vec<(Role, [u64; 3])> = Role::ALL
        .iter()
        .map(|role| {
            let e = overview.expiring.get(role).cloned().unwrap_or_default();
            (
                *role,
                [e.within_30_days, e.within_60_days, e.within_90_days],
            )
        })
        .collect();
    let top = values
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1)
        + 1;
    // Each role takes four columns: three bars and a gap.
    let columns = (values.len() * 4) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Certificates expiring soon, by role", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(44)
            .build_cartesian_2d(0u32..columns, 0u64..top)
            .map_err(failed)?;
        let role_names: Vec<&str> = values.iter().map(|(role, _)| role.as_str()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(columns as usize + 1)
            .x_label_formatter(&|x| {
                if x % 4 == 1 {
                    role_names
                        .get((x / 4) as usize)
                        .map(|name| name.to_string())
                        .unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("certificates")
            .light_line_style(WHITE)
            .draw()
            .map_err(failed)?;
        for (shade, (colour, name)) in SHADES.iter().zip(NAMES).enumerate() {
            let colour = *colour;
            chart
                .draw_series(values.iter().enumerate().map(|(i, (_, counts))| {
                    let x = (i * 4 + shade) as u32;
                    let value = counts.get(shade).copied().unwrap_or(0);
                    Rectangle::new([(x, 0), (x + 1, value)], colour.filled())
                }))
                .map_err(failed)?
                .label(name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
                });
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{compute, Period, ReportRequest};

    #[test]
    fn charts_are_svg_documents() {
        let report = compute(
            [].iter(),
            &ReportRequest {
                from: time::macros::date!(2026 - 01 - 01),
                to: time::macros::date!(2026 - 01 - 10),
                by: Period::Day,
                role: None,
            },
        )
        .unwrap();
        let svg = report_svg(&report, "t").unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("issued") && svg.contains("2026-01-01"));
        let bars = expiring_svg(&Overview::default()).unwrap();
        assert!(bars.contains("merchant"));
    }
}
