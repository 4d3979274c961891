//! Data a loss is trained on.
//!
//! [`MaskedMatrix`] is the original dense form: a full `users × items` array
//! with an observation mask.

mod dense;

pub use dense::MaskedMatrix;
