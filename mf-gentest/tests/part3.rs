//! Generated losses, part 4 of 4 (`build.rs` writes them; the
//! checks are `mf_gentest::check_case`). Four test binaries instead of one
//! keep each compiler run's memory near 2.5 GB and use both cores.

use mf_gentest::{check_case, zeros, Bound, Problem};
use mf_runtime::{loss, Init};

include!(concat!(env!("OUT_DIR"), "/losses_3.rs"));
