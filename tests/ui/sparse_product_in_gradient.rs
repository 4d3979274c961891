use mf_runtime::loss;

// The product is lowered, but its gradient in `X`, `(mask ∘ D)ᵀ (mask ∘ R)`,
// multiplies two sparse matrices.
loss! {
    pub struct L {
        data D: sparse[users, items],
        param X: [items, items],
    }
    minimize sum(mask * (D - (mask(D) * D) @ X)^2)
}

fn main() {}
