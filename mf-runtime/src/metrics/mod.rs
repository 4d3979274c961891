//! Metrics: the accuracy of predicted ratings (RMSE, MAE) and the quality
//! of rankings for implicit feedback (precision@k, recall@k, NDCG@k, MAP@k,
//! AUC).

mod ranking;
mod rating;

pub use ranking::{Ranking, RankingProtocol};
pub use rating::{mae, rmse, Accuracy};
