//! Housekeeping keeps the OAuth tables bounded: what can no longer matter is pruned.

use protus::storage::central::oauth;
use protus::storage::central::oauth_records::AuthRequestRecord;
use protus::vocab::ids::CompanyId;
use protus::vocab::time::Clock;

use crate::support::TestCentral;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_ids_and_requests_are_pruned_only_after_they_expire() {
    // Proves pruning drops a revoked jti only after its exp (+ skew) and a request only after its expiry.
    let central = TestCentral::start().await;
    let store = central.store();
    let now = central.clock.now();
    let request = AuthRequestRecord {
        id: "areq_test".into(),
        company_id: CompanyId::generate(),
        redirect_uri: "http://127.0.0.1:9/cb".into(),
        scope: protus::domain::token::scope::ScopeSet::ALL,
        state: None,
        code_challenge: protus::domain::pkce::s256("a-verifier-that-is-long-enough-to-be-a-valid-pkce-verifier"),
        created_at: now,
        expires_at: now.plus_s(600),
    };
    store
        .write(move |tx| {
            oauth::revoke_jti(tx, None, "jti-1", now.plus_s(3600), now)?;
            oauth::save_request(tx, &request)
        })
        .await
        .expect("stored");
    assert_eq!(store.write(move |tx| oauth::prune_expired(tx, now)).await.expect("prune"), 0);
    let later = now.plus_s(3600 + 61);
    assert_eq!(store.write(move |tx| oauth::prune_expired(tx, later)).await.expect("prune"), 2);
    assert!(!store.read(|r| oauth::is_revoked(r, "jti-1")).await.expect("read"));
}
