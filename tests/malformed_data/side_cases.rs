//! The side-information files of the malformed-data corpus: the
//! attribute loader that reads each one, and the line, field and problem
//! its error must name, written by hand.

/// Which attribute loader reads a side-information file of the corpus.
#[derive(Clone, Copy, Debug)]
pub enum Side {
    /// `Features::movielens_users` (`u.user`).
    Users,
    /// `Features::movielens_items` (`u.item`).
    Items,
    /// `Features::movielens_genres` (`movies.csv`).
    Genres,
}

/// A malformed side-information file: its loader, and the line, field and
/// problem its error must name (besides the file).
pub struct SideCase {
    pub file: &'static str,
    pub side: Side,
    pub line: Option<usize>,
    pub field: Option<&'static str>,
    pub problem: &'static str,
}

fn side(
    file: &'static str,
    side: Side,
    line: Option<usize>,
    field: Option<&'static str>,
    problem: &'static str,
) -> SideCase {
    SideCase {
        file,
        side,
        line,
        field,
        problem,
    }
}

pub fn side_cases() -> Vec<SideCase> {
    use Side::*;
    vec![
        side(
            "side-bad-gender.user",
            Users,
            Some(2),
            Some("gender"),
            "`X` is not M or F",
        ),
        side(
            "side-four-fields.user",
            Users,
            Some(2),
            None,
            "4 fields, but a u.user line has 5 (user id, age, gender, occupation, zip code)",
        ),
        side(
            "side-age-not-integer.user",
            Users,
            Some(1),
            Some("age"),
            "`twenty` is not an integer",
        ),
        side(
            "side-negative-age.user",
            Users,
            Some(2),
            Some("age"),
            "`-3` is not an age in years from 1 to 120",
        ),
        side(
            "side-duplicate-user.user",
            Users,
            Some(3),
            None,
            "user `1` is described twice (first at line 1)",
        ),
        side(
            "side-empty-occupation.user",
            Users,
            Some(1),
            Some("occupation"),
            "empty",
        ),
        side(
            "side-empty.user",
            Users,
            None,
            None,
            "no attributes: the file describes no id",
        ),
        side(
            "side-bad-genre-flag.item",
            Items,
            Some(1),
            Some("genre flag"),
            "`2` is not 0 or 1",
        ),
        side(
            "side-bad-release-date.item",
            Items,
            Some(2),
            Some("release date"),
            "`1995-01-01` is not a date DD-Mon-YYYY",
        ),
        side(
            "side-missing-genre-flag.item",
            Items,
            Some(1),
            None,
            "23 fields, but a u.item line has 24",
        ),
        side(
            "side-bad-movie-id.item",
            Items,
            Some(1),
            Some("movie id"),
            "`x1` is not an integer",
        ),
        side(
            "side-wrong-header-movies.csv",
            Genres,
            Some(1),
            None,
            "expected the header `movieId,title,genres`",
        ),
        side(
            "side-empty-genre-movies.csv",
            Genres,
            Some(2),
            Some("genres"),
            "`Adventure||Comedy` is not genres separated by single `|`",
        ),
        side(
            "side-unclosed-quote-movies.csv",
            Genres,
            Some(3),
            None,
            "2 fields, but a movies.csv line has 3 (movieId, title, genres)",
        ),
        side(
            "side-negative-id-movies.csv",
            Genres,
            Some(3),
            Some("movieId"),
            "`-2` is negative",
        ),
    ]
}
