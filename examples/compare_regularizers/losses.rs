//! The losses of the comparison, written with `loss!`: the seventeen
//! factorizations and the two AutoRec autoencoders. Every one is over the
//! observed ratings only (`sparse`); the factorizations "with biases"
//! predict P@Q + bu + bi + mu (their biases start at 0 and `mu` at the mean
//! rating, as declared), the others P@Q.

use mf_runtime::loss;

loss! {
    /// Squared error, no penalty.
    pub struct Plain {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask * (D - P@Q)^2)
}

loss! {
    /// Squared error with biases, no penalty.
    pub struct PlainBiased {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1] = 0,
        param bi: [1, items] = 0,
        param mu: [] = mean(D),
    }
    minimize sum(mask * (D - P@Q - bu - bi - mu)^2)
}

loss! {
    /// Squared error, squared Frobenius (L2) penalty.
    pub struct L2 {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper lambda: f64 = 1.0,
    }
    minimize sum(mask * (D - P@Q)^2) + lambda * (sum(P^2) + sum(Q^2))
}

loss! {
    /// Squared error with biases, L2 penalty on factors and biases.
    pub struct L2Biased {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1] = 0,
        param bi: [1, items] = 0,
        param mu: [] = mean(D),
        hyper lambda: f64 = 1.0,
    }
    minimize sum(mask * (D - P@Q - bu - bi - mu)^2)
        + lambda * (sum(P^2) + sum(Q^2) + sum(bu^2) + sum(bi^2))
}

loss! {
    /// Squared error, L1 penalty.
    pub struct L1 {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper lambda: f64 = 1.0,
    }
    minimize sum(mask * (D - P@Q)^2) + lambda * (sum(abs(P)) + sum(abs(Q)))
}

loss! {
    /// Squared error with biases, L1 penalty on factors and biases.
    pub struct L1Biased {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1] = 0,
        param bi: [1, items] = 0,
        param mu: [] = mean(D),
        hyper lambda: f64 = 1.0,
    }
    minimize sum(mask * (D - P@Q - bu - bi - mu)^2)
        + lambda * (sum(abs(P)) + sum(abs(Q)) + sum(abs(bu)) + sum(abs(bi)))
}

loss! {
    /// Squared error, elastic net: half L1, half L2.
    pub struct Elastic {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper lambda: f64 = 1.0,
        hyper alpha: f64 = 0.5,
    }
    minimize sum(mask * (D - P@Q)^2)
        + lambda * (alpha * (sum(abs(P)) + sum(abs(Q))) + (1 - alpha) * (sum(P^2) + sum(Q^2)))
}

loss! {
    /// Squared error with biases, elastic net on factors and biases.
    pub struct ElasticBiased {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1] = 0,
        param bi: [1, items] = 0,
        param mu: [] = mean(D),
        hyper lambda: f64 = 1.0,
        hyper alpha: f64 = 0.5,
    }
    minimize sum(mask * (D - P@Q - bu - bi - mu)^2)
        + lambda * (alpha * (sum(abs(P)) + sum(abs(Q)) + sum(abs(bu)) + sum(abs(bi)))
            + (1 - alpha) * (sum(P^2) + sum(Q^2) + sum(bu^2) + sum(bi^2)))
}

loss! {
    /// Squared error, weighted-λ (ALS-WR): each user's and item's penalty
    /// weighted by its number of ratings.
    pub struct Weighted {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper lambda: f64 = 0.05,
    }
    minimize sum(mask * (D - P@Q)^2)
        + lambda * (sum(count_rows(D) * P^2) + sum(count_cols(D) * Q^2))
}

loss! {
    /// Squared error with biases, weighted-λ on factors and biases.
    pub struct WeightedBiased {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1] = 0,
        param bi: [1, items] = 0,
        param mu: [] = mean(D),
        hyper lambda: f64 = 0.05,
    }
    minimize sum(mask * (D - P@Q - bu - bi - mu)^2)
        + lambda * (sum(count_rows(D) * (P^2)) + sum(count_cols(D) * Q^2)
            + sum(count_rows(D) * bu^2) + sum(count_cols(D) * bi^2))
}

loss! {
    /// Squared error, Frobenius norm not squared.
    pub struct Frobenius {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper lambda: f64 = 10.0,
    }
    minimize sum(mask * (D - P@Q)^2) + lambda * (norm(P) + norm(Q))
}

loss! {
    /// Squared error with biases, Frobenius norms (not squared).
    pub struct FrobeniusBiased {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1] = 0,
        param bi: [1, items] = 0,
        param mu: [] = mean(D),
        hyper lambda: f64 = 10.0,
    }
    minimize sum(mask * (D - P@Q - bu - bi - mu)^2)
        + lambda * (norm(P) + norm(Q) + norm(bu) + norm(bi))
}

loss! {
    /// Huber error with biases, weighted-λ penalty, with a tunable δ written
    /// through the identity huber(x, δ) = δ² huber(x / δ, 1) (which is also
    /// how `huber(x, delta)` with a hyper-setting `delta` is computed).
    pub struct HuberBiased {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1] = 0,
        param bi: [1, items] = 0,
        param mu: [] = mean(D),
        hyper lambda: f64 = 0.05,
        hyper delta: f64 = 1.0,
    }
    minimize sum(mask * delta^2 * huber((D - P@Q - bu - bi - mu) / delta, 1))
        + lambda * (sum(count_rows(D) * P^2) + sum(count_cols(D) * Q^2)
            + sum(count_rows(D) * bu^2) + sum(count_cols(D) * bi^2))
}

loss! {
    /// Absolute error with biases, weighted-λ penalty.
    pub struct AbsoluteBiased {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1] = 0,
        param bi: [1, items] = 0,
        param mu: [] = mean(D),
        hyper lambda: f64 = 0.05,
    }
    minimize sum(mask * abs(D - P@Q - bu - bi - mu))
        + lambda * (sum(count_rows(D) * P^2) + sum(count_cols(D) * Q^2)
            + sum(count_rows(D) * bu^2) + sum(count_cols(D) * bi^2))
}

loss! {
    /// Squared error with biases, and a penalty that grows only as the
    /// square root of the number of ratings: popular items (and heavy users)
    /// are penalized less than with weighted-λ.
    pub struct PopularLess {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1] = 0,
        param bi: [1, items] = 0,
        param mu: [] = mean(D),
        hyper lambda: f64 = 1.0,
    }
    minimize sum(mask * (D - P@Q - bu - bi - mu)^2)
        + lambda * (sum(sqrt(count_rows(D)) * P^2) + sum(sqrt(count_cols(D)) * Q^2)
            + sum(sqrt(count_rows(D)) * bu^2) + sum(sqrt(count_cols(D)) * bi^2))
}

loss! {
    /// SVD++: each user's factor is shifted by the mean of the implicit
    /// factors `Y` of the items that user rated (`mask(D) @ Y / √nᵤ`),
    /// with biases and the √n-weighted penalty; `ratio` scales `Y`'s.
    pub struct Svdpp {
        data D: sparse[users, items],
        param P: [users, k],
        param Y: [items, k],
        param Q: [k, items],
        param bu: [users, 1] = 0,
        param bi: [1, items] = 0,
        param mu: [] = mean(D),
        hyper lambda: f64 = 1.0,
        hyper ratio: f64 = 3.0,
    }
    minimize sum(mask * (D - (P + (mask(D) @ Y) / sqrt(count_rows(D))) @ Q - bu - bi - mu)^2)
        + lambda * (sum(sqrt(count_rows(D)) * P^2) + sum(sqrt(count_cols(D)) * Q^2)
            + sum(sqrt(count_rows(D)) * bu^2) + sum(sqrt(count_cols(D)) * bi^2)
            + ratio * sum(sqrt(count_cols(D).T) * Y^2))
}

loss! {
    /// Item-based AutoRec (Sedhain et al., WWW 2015): each item's column of
    /// training ratings is encoded through `V` to `k` sigmoid hidden units
    /// and decoded, with an identity output, through `W` back to every
    /// user; the error counts the observed ratings only and `λ` penalizes
    /// both weight matrices. The output bias `c` starts at the mean rating.
    pub struct ItemAutoRec {
        data D: sparse[users, items],
        param V: [k, users],
        param b: [k, 1] = 0,
        param W: [users, k],
        param c: [users, 1] = mean(D),
        hyper lambda: f64 = 1.0,
    }
    minimize sum(mask * (D - W @ sigmoid(V @ (mask(D) * D) + b) - c)^2)
        + lambda * (sum(V^2) + sum(W^2))
}

loss! {
    /// User-based AutoRec: [`ItemAutoRec`] the other way round, each
    /// user's row of training ratings encoded and decoded to every item.
    pub struct UserAutoRec {
        data D: sparse[users, items],
        param V: [items, k],
        param b: [1, k] = 0,
        param W: [k, items],
        param c: [1, items] = mean(D),
        hyper lambda: f64 = 1.0,
    }
    minimize sum(mask * (D - sigmoid((mask(D) * D) @ V + b) @ W - c)^2)
        + lambda * (sum(V^2) + sum(W^2))
}

loss! {
    /// [`L2Biased`] with each user's factors offset by a learned map of the
    /// user's attributes (`F@W`: age group, gender, occupation, zip region
    /// from `u.user`) and each item's by one of the item's (`V@G.T`: genres
    /// and release decade from `u.item`); `γ` penalizes the two maps.
    pub struct L2BiasedAttributes {
        data D: sparse[users, items],
        data F: [users, f],
        data G: [items, g],
        param P: [users, k],
        param W: [f, k],
        param Q: [k, items],
        param V: [k, g],
        param bu: [users, 1] = 0,
        param bi: [1, items] = 0,
        param mu: [] = mean(D),
        hyper lambda: f64 = 1.0,
        hyper gamma: f64 = 1.0,
    }
    minimize sum(mask(D) * (D - (P + F@W) @ (Q + V@G.T) - bu - bi - mu)^2)
        + lambda * (sum(P^2) + sum(Q^2) + sum(bu^2) + sum(bi^2))
        + gamma * (sum(W^2) + sum(V^2))
}
