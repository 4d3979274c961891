//! Training-curve plots: SVG and PNG files, labels, sizes and text.

use mf_runtime::plot::{CurvePlot, PlotError, XAxis};
use mf_runtime::{History, Record};

fn run(scale: f64, steps: usize, validate: bool) -> History {
    History::from(
        (0..steps)
            .map(|step| Record {
                step,
                loss: scale * (-(step as f64) / 20.0).exp() + 1.0,
                grad_norm: 1.0,
                elapsed: 0.003 * step as f64,
                evaluations: step + 1,
                train_metric: None,
                validation: (validate && step % 5 == 0).then(|| 0.9 + scale / (50.0 + step as f64)),
            })
            .collect::<Vec<_>>(),
    )
}

#[test]
fn svg_has_every_run_label_and_both_panels() -> Result<(), Box<dyn std::error::Error>> {
    let (a, b, c) = (
        run(1000.0, 100, true),
        run(50.0, 60, true),
        run(5.0, 80, false),
    );
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("curves.svg");
    CurvePlot::new()
        .title("three runs")
        .validation_label("validation RMSE")
        .write(
            &path,
            &[("gradient descent", &a), ("Adam", &b), ("L-BFGS", &c)],
        )?;
    let svg = std::fs::read_to_string(&path)?;
    for text in [
        "gradient descent",
        "Adam",
        "L-BFGS",
        "three runs",
        "validation RMSE",
        "loss (log scale)",
        "step",
    ] {
        assert!(svg.contains(text), "missing {text:?}");
    }
    Ok(())
}

#[test]
fn png_decodes_to_the_requested_size_with_text_drawn() -> Result<(), Box<dyn std::error::Error>> {
    let (a, b) = (run(100.0, 50, true), run(10.0, 50, true));
    let dir = tempfile::tempdir()?;
    let with_text = dir.path().join("curves.PNG");
    CurvePlot::new()
        .size(640, 480)
        .x_axis(XAxis::Seconds)
        .write(&with_text, &[("first", &a), ("second", &b)])?;
    assert!(std::fs::metadata(&with_text)?.len() > 0);
    let image = image::open(&with_text)?.to_rgb8();
    assert_eq!(image.dimensions(), (640, 480));

    // Text is rasterised: the same figure with a longer title has more ink,
    // and the difference sits in the title's rows.
    let longer = dir.path().join("longer.png");
    CurvePlot::new()
        .size(640, 480)
        .x_axis(XAxis::Seconds)
        .title("Training curves, with a much longer title")
        .write(&longer, &[("first", &a), ("second", &b)])?;
    let other = image::open(&longer)?.to_rgb8();
    let ink = |img: &image::RgbImage, rows: std::ops::Range<u32>| {
        rows.flat_map(|y| (0..img.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0.iter().any(|&c| c < 128))
            .count()
    };
    assert!(ink(&image, 0..40) > 50, "no title text drawn");
    assert!(ink(&other, 0..40) > ink(&image, 0..40) + 50);
    Ok(())
}

#[test]
fn linear_scale_for_non_positive_losses_and_no_validation_panel(
) -> Result<(), Box<dyn std::error::Error>> {
    let mut records = run(3.0, 20, false).records().to_vec();
    for r in &mut records {
        r.loss -= 3.0; // some losses negative
    }
    records[5].loss = f64::NAN; // a non-finite value is skipped
    let history = History::from(records);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("linear.svg");
    CurvePlot::new().write(&path, &[("log-likelihood", &history)])?;
    let svg = std::fs::read_to_string(&path)?;
    assert!(svg.contains("log-likelihood"));
    assert!(!svg.contains("log scale"));
    assert!(!svg.contains("validation"));
    Ok(())
}

#[test]
fn errors_name_the_path() {
    let h = run(1.0, 3, false);
    let err = CurvePlot::new()
        .write("curves.jpg", &[("a", &h)])
        .unwrap_err();
    assert!(matches!(err, PlotError::Format { .. }));
    assert!(err.to_string().starts_with("curves.jpg: "));

    let dir = tempfile::tempdir().unwrap();
    let empty = History::default();
    let err = CurvePlot::new()
        .write(dir.path().join("e.svg"), &[("a", &empty)])
        .unwrap_err();
    assert!(matches!(err, PlotError::Empty { .. }), "{err}");

    let missing_dir = dir.path().join("no/such/dir/c.png");
    let err = CurvePlot::new()
        .write(&missing_dir, &[("a", &h)])
        .unwrap_err();
    assert!(err.to_string().contains("no/such/dir/c.png"), "{err}");
}

/// Many runs: the legend, in a column of its own, lists each once with its
/// text inside the image (it used to overflow the lower panel).
#[test]
fn a_legend_of_many_runs_fits_the_image_once() -> Result<(), Box<dyn std::error::Error>> {
    let runs: Vec<History> = (0..25).map(|i| run(10.0 + i as f64, 40, true)).collect();
    let labels: Vec<String> = (0..25).map(|i| format!("loss number {i:02}")).collect();
    let named: Vec<(&str, &History)> = labels.iter().map(String::as_str).zip(&runs).collect();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("many.svg");
    CurvePlot::new().size(900, 600).write(&path, &named)?;
    let svg = std::fs::read_to_string(&path)?;
    for label in &labels {
        assert_eq!(svg.matches(label.as_str()).count(), 1, "{label}");
        let at = svg.find(label.as_str()).unwrap();
        let tag = &svg[svg[..at].rfind("<text").unwrap()..at];
        let y: f64 = tag
            .split("y=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()?;
        assert!((0.0..600.0).contains(&y), "{label} at y = {y}");
    }
    Ok(())
}
