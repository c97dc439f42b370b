//! Bad input never panics: property tests over content, ids, safety patterns
//! and builder inputs.

use genesys_inject::{
    validate, ContentBlock, Error, InjectRequest, Injector, SafetyPolicy, ValidationError,
};
use proptest::prelude::*;

fn blocks_strategy() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(any::<String>(), 0..6)
}

proptest! {
    #[test]
    fn validate_returns_ok_or_a_validation_error_and_counts_utf16(texts in blocks_strategy(), max in 0usize..300) {
        let blocks: Vec<ContentBlock> = texts.iter().map(ContentBlock::text).collect();
        let joined: String = texts.concat();
        let expected = joined.encode_utf16().count();
        match validate(&blocks, max, &SafetyPolicy::default()) {
            Ok(text) => {
                prop_assert_eq!(text.utf16_len(), expected);
                prop_assert_eq!(text.as_str(), joined.as_str());
                prop_assert!(expected <= max);
            }
            Err(ValidationError::TooLong { len, .. }) => prop_assert_eq!(len, expected),
            Err(ValidationError::BlockTooLong { index, len, .. }) => prop_assert_eq!(len, texts[index].encode_utf16().count()),
            Err(_) => {}
        }
    }

    #[test]
    fn any_safety_pattern_gives_a_policy_or_a_config_error(pattern in any::<String>(), text in any::<String>()) {
        match SafetyPolicy::empty().deny(&pattern) {
            Ok(policy) => { let _ = validate(&[ContentBlock::text(text)], 2000, &policy); }
            Err(e) => prop_assert!(matches!(e, Error::Config(_))),
        }
    }

    #[test]
    fn any_ids_are_checked_before_anything_else(conv in any::<String>(), comm in any::<String>()) {
        let request = InjectRequest::new(&conv, &comm, vec![ContentBlock::text("hi")]);
        let result = request.prepare(2000, &SafetyPolicy::default());
        let guid = |s: &str| s.len() == 36 && s.chars().enumerate().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() });
        prop_assert_eq!(result.is_ok(), guid(&conv) && guid(&comm));
    }

    #[test]
    fn any_builder_input_gives_an_injector_or_a_config_error(
        region in any::<String>(),
        base in prop_oneof![any::<String>(), "(http|https|file|ftp)://[a-z0-9.:/ \\[\\]@?#-]{0,30}"],
        hook in prop_oneof![any::<String>(), "(http|https|file)://[a-z0-9.:/ @?#-]{0,30}"],
        id in any::<String>(),
        secret in any::<String>(),
    ) {
        let by_region = Injector::builder().region(&region).credentials(&id, &secret).build();
        prop_assert!(matches!(by_region, Ok(_) | Err(Error::Config(_))));
        // Only loopback hosts or https may come through; no traffic is made by build().
        let by_url = Injector::builder().base_url(&base).webhook_url(&hook).credentials(&id, &secret).build();
        prop_assert!(matches!(by_url, Ok(_) | Err(Error::Config(_))));
    }
}

#[test]
fn named_bad_builder_inputs_are_config_errors() {
    let ok = |b: genesys_inject::InjectorBuilder| b.credentials("id", "secret");
    let cases = [
        ok(Injector::builder().webhook_url("https://hooks.example.com/a b")),
        ok(Injector::builder().webhook_url("file:///etc/passwd")),
        ok(Injector::builder().webhook_url("http://hooks.example.com/audit")),
        ok(Injector::builder().base_url("http://example.com")),
        ok(Injector::builder().base_url("https://user:pw@example.com")),
        ok(Injector::builder().region("mars-north-1")),
        ok(Injector::builder().region("http://api.mypurecloud.ie")),
        Injector::builder().credentials("id:with:colons", "secret"),
        Injector::builder().credentials("id", "secret\n"),
        Injector::builder().credentials("id\r\nX-Injected: 1", "secret"),
        Injector::builder().credentials("", "secret"),
        Injector::builder(),
        ok(Injector::builder().max_text_chars(0)),
        ok(Injector::builder()
            .webhook_url("https://h.example.com")
            .webhook_queue_capacity(0)),
        ok(Injector::builder().proxy("not a proxy url")),
        // Built without SOCKS support: ureq itself would panic on the first call.
        ok(Injector::builder().proxy("socks5://127.0.0.1:1080")),
    ];
    for (i, builder) in cases.into_iter().enumerate() {
        let shown = format!("{builder:?}");
        match builder.build() {
            Err(Error::Config(msg)) => assert!(!msg.contains("secret\n"), "{msg}"),
            other => panic!("case {i} ({shown}): expected Error::Config, got {other:?}"),
        }
    }
    // A colon in the secret is legal in HTTP Basic authentication.
    assert!(Injector::builder()
        .credentials("id", "se:cret")
        .build()
        .is_ok());
}
