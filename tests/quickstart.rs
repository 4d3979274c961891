//! The quickstart example reconstructs every observed rating of the classic
//! toy matrix within 0.1, at the settings it documents.

#[allow(dead_code)]
#[path = "../examples/quickstart.rs"]
mod quickstart;

#[test]
fn every_observed_rating_is_reconstructed_within_a_tenth() {
    let ratings = quickstart::toy_ratings();
    let reconstruction = quickstart::train_toy(5000, 0.01, 0).unwrap();
    let (rows, cols) = ratings.dim();
    let mut checked = 0;
    for row in 0..rows {
        for col in 0..cols {
            if ratings.is_observed(row, col) {
                let (want, got) = (ratings.values()[[row, col]], reconstruction[[row, col]]);
                assert!((want - got).abs() < 0.1, "({row}, {col}): {got} vs {want}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, ratings.num_observed());
}

#[test]
fn the_language_reference_shows_the_real_explain_output() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/language.md")).unwrap();
    let explain = quickstart::SeedLoss::explain();
    assert!(
        readme.contains(explain.trim_end()),
        "docs/language.md's explain() block differs from SeedLoss::explain():\n{explain}"
    );
}
