use super::*;
use proptest::prelude::*;

fn redactor(args: &[&str]) -> Redactor {
    Redactor::from_args(args).unwrap()
}

/// `text` through `rules`: the result (the text itself when nothing changed) and the
/// replacements per rule.
fn run(r: &Redactor, text: &str) -> (String, Vec<u64>) {
    let mut hits = Hits::default();
    let out = r.redact_str(text, &mut hits);
    let per_rule = (0..r.rule_names().len()).map(|i| hits.get(i)).collect();
    (out.unwrap_or_else(|| text.to_string()), per_rule)
}

fn redacts(rule: &str, cases: &[(&str, &str)]) {
    let r = redactor(&[rule]);
    for (text, want) in cases {
        assert_eq!(run(&r, text).0, *want, "{rule} on {text:?}");
    }
}

fn leaves(rule: &str, texts: &[&str]) {
    let r = redactor(&[rule]);
    for text in texts {
        let mut hits = Hits::default();
        assert_eq!(r.redact_str(text, &mut hits), None, "{rule} on {text:?}");
        assert_eq!(hits.total(), 0);
    }
}

#[test]
fn bearer_tokens() {
    redacts(
        "bearer",
        &[
            (
                "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc_DEF-123",
                "Authorization: Bearer [REDACTED:bearer]",
            ),
            (
                r#"{"authorization":"bearer c2VjcmV0LXRva2Vu=="}"#,
                r#"{"authorization":"bearer [REDACTED:bearer]"}"#,
            ),
            (
                "retrying with BEARER\tabcdefgh then Bearer ghp_0123456789abcdef",
                "retrying with BEARER [REDACTED:bearer] then Bearer [REDACTED:bearer]",
            ),
        ],
    );
    leaves(
        "bearer",
        &[
            "missing Bearer token",
            "unbearable abcdefghijklmnop",
            "Bearer",
            "bearer: abcdefghijkl",
            "Basic dXNlcjpwYXNzd29yZA==",
        ],
    );
}

#[test]
fn url_passwords() {
    redacts(
        "url-password",
        &[
            (
                "connecting to postgres://app:s3cr3t@db:5432/shop?sslmode=require",
                "connecting to postgres://app:[REDACTED:url-password]@db:5432/shop?sslmode=require",
            ),
            (
                "redis://:hunter2@cache:6379/0",
                "redis://:[REDACTED:url-password]@cache:6379/0",
            ),
            // An unencoded `@` in the password: all of it goes.
            (
                "jdbc:mysql://root:p@ss@mysql/app",
                "jdbc:mysql://root:[REDACTED:url-password]@mysql/app",
            ),
            (
                r#"{"dsn":"amqp://guest:guest@rabbit"}"#,
                r#"{"dsn":"amqp://guest:[REDACTED:url-password]@rabbit"}"#,
            ),
        ],
    );
    leaves(
        "url-password",
        &[
            "GET http://host:8080/path?mail=a@b.com",
            "https://user@example.com/repo.git",
            "ftp://host/a:b@c",
            "mailto:someone@example.com",
            "user:pass@host without a scheme",
        ],
    );
}

#[test]
fn card_numbers_pass_luhn() {
    redacts(
        "card",
        &[
            (
                "paid with 4111 1111 1111 1111.",
                "paid with [REDACTED:card].",
            ),
            ("card=4111-1111-1111-1111", "card=[REDACTED:card]"),
            ("pan:5555555555554444;", "pan:[REDACTED:card];"),
            // American Express, 15 digits, 4-6-5.
            ("amex 3782 822463 10005 ok", "amex [REDACTED:card] ok"),
            // Visa, 13 digits; Discover, 19.
            (
                "4222222222222 and 6011000990139424",
                "[REDACTED:card] and [REDACTED:card]",
            ),
            // After an order number in the same run of digits and spaces.
            (
                "order 1234 4111 1111 1111 1111 shipped",
                "order 1234 [REDACTED:card] shipped",
            ),
            ("12 4111111111111111", "12 [REDACTED:card]"),
        ],
    );
    leaves(
        "card",
        &[
            // Luhn fails.
            "4111 1111 1111 1112",
            "4111111111111113",
            // Epoch milliseconds and nanoseconds start with 1.
            "took until 1763632800123 (1763632800123456789 ns)",
            // Starts with 9 (no payment network), or too long to be one.
            "9999999999999995",
            "41111111111111111111111",
            // Lists of short numbers.
            "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
            "2026-11-20 10:00:00",
            "phone +1 555-123-4567",
            // Digits glued to letters: the hex of an id, whatever its Luhn sum.
            "req_id=54c2188079697398",
            "x4111111111111111",
            "4111111111111111x",
        ],
    );
    redacts(
        "card",
        &[
            ("id_4111111111111111.", "id_[REDACTED:card]."),
            ("ab12 4111 1111 1111 1111", "ab12 [REDACTED:card]"),
        ],
    );
    assert!(builtin::luhn(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 3]));
    assert!(!builtin::luhn(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 4]));
}

#[test]
fn thirteen_digit_visa_is_a_card() {
    // 4222222222222 passes Luhn (the classic 13-digit test number).
    assert!(builtin::luhn(&[4, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]));
    redacts(
        "card",
        &[("visa13 4222222222222 end", "visa13 [REDACTED:card] end")],
    );
}

#[test]
fn email_addresses() {
    redacts(
        "email",
        &[
            (
                "sent to jane.doe+orders@example.co.uk, bob@shop.io",
                "sent to [REDACTED:email], [REDACTED:email]",
            ),
            ("<ops@sub.example.com>", "<[REDACTED:email]>"),
        ],
    );
    leaves(
        "email",
        &[
            "user@localhost",
            "@example.com",
            "installed left-pad@1.3.0",
            "a@b.c",
            "image@sha256:abcdef",
        ],
    );
}

#[test]
fn rules_of_ones_own() {
    // `\=` in the regex; the replacement takes every `=` after the separator.
    let spec = RuleSpec::parse(r"pw=password\=\S+=password=***").unwrap();
    assert_eq!(spec.name, "pw");
    assert_eq!(spec.pattern, r"password\=\S+");
    assert_eq!(spec.replacement, "password=***");
    let r = Redactor::new([spec]).unwrap();
    assert_eq!(
        run(&r, "login user=bob password=hunter2 ok").0,
        "login user=bob password=*** ok"
    );
    // A `\\` before `=` escapes the backslash, not the `=`.
    let spec = RuleSpec::parse(r"bs=a\\=b").unwrap();
    assert_eq!(
        (spec.pattern.as_str(), spec.replacement.as_str()),
        (r"a\\", "b")
    );
    // No replacement: the default names the rule.
    let r = redactor(&["tok=tok_[a-z0-9]{6,}"]);
    assert_eq!(run(&r, "key tok_abc123def").0, "key [REDACTED:tok]");
    // Groups, named groups and `$$`.
    let r = redactor(&[r"kv=(?P<k>secret|token)\=\w+=${k}=$$x"]);
    assert_eq!(run(&r, "a secret=xyz b").0, "a secret=$x b");
    let r = redactor(&[r"ssn=(\d{3})-\d{2}-(\d{4})=$1-XX-$2"]);
    assert_eq!(run(&r, "ssn 123-45-6789").0, "ssn 123-XX-6789");
}

#[test]
fn rules_apply_in_order_and_are_counted_each() {
    let line = "a@b.io paid 4111111111111111 via https://u:pw@pay.example/x with Bearer abcdefgh1 and c@d.io";
    let r = redactor(&["url-password", "email", "card", "bearer"]);
    let (out, hits) = run(&r, line);
    assert_eq!(
        out,
        "[REDACTED:email] paid [REDACTED:card] via https://u:[REDACTED:url-password]@pay.example/x with Bearer [REDACTED:bearer] and [REDACTED:email]"
    );
    assert_eq!(hits, [1, 2, 1, 1]);
    assert_eq!(r.rule_names(), ["url-password", "email", "card", "bearer"]);
    // The other way round, `pw@pay.example` reads as an address first: the password
    // still goes, with the host.
    let r = redactor(&["email", "url-password"]);
    let (out, hits) = run(&r, line);
    assert!(
        out.contains("via https://u:[REDACTED:email]/x") && !out.contains("pw"),
        "{out}"
    );
    assert_eq!(hits, [3, 0]);
}

#[test]
fn mistakes_say_what_to_do() {
    let err = |spec: &str| Redactor::from_args(&[spec]).unwrap_err();
    let e = err("passwords");
    assert!(matches!(e, RedactError::UnknownBuiltin { .. }));
    let text = e.to_string();
    assert!(
        text.contains("bearer, url-password, card, email") && text.contains("NAME=REGEX"),
        "{text}"
    );

    let e = err("pw=pass(word");
    let text = e.to_string();
    assert!(matches!(e, RedactError::BadRegex { .. }));
    assert!(
        text.contains("\"pw\"") && text.contains("does not compile") && text.contains(r"\="),
        "{text}"
    );

    assert!(matches!(err("a b=x"), RedactError::BadName { .. }));
    assert!(matches!(err("=x"), RedactError::BadName { .. }));
    assert!(matches!(err("email=x"), RedactError::BuiltinName { .. }));
    assert!(matches!(err("x="), RedactError::EmptyRegex { .. }));
    assert!(matches!(err("x==y"), RedactError::EmptyRegex { .. }));
    let e = err("x=a*");
    assert!(matches!(e, RedactError::MatchesEmpty { .. }));
    assert!(e.to_string().contains("at least one character"), "{e}");
    let e = err("price=[0-9]+=$5.00");
    assert!(matches!(e, RedactError::NoSuchGroup { .. }), "{e}");
    assert!(e.to_string().contains("$$"), "{e}");
    assert!(Redactor::from_args(&["price=[0-9]+=$$5.00"]).is_ok());
    let e = Redactor::from_args(&["email", "email"]).unwrap_err();
    assert!(matches!(e, RedactError::Duplicate { .. }));
}

#[test]
fn nothing_matched_costs_no_allocation_and_changes_nothing() {
    let r = redactor(&["bearer", "url-password", "card", "email"]);
    let mut hits = Hits::default();
    let line = "GET /api/v1/items/17064 200 in 24 ms trace=fcf98c59f2d83dec519dc75acd5f6acc";
    assert_eq!(r.redact_str(line, &mut hits), None);
    assert_eq!(hits, Hits::default(), "no counts vector was made");
    // A long number that is no card passes the cheap test but is left alone.
    assert!(r.is_match("id 4111111111111112"));
    assert_eq!(r.redact_str("id 4111111111111112", &mut hits), None);
}

#[test]
fn records_fields_and_nested_values() {
    let r = redactor(&["email", "card"]);
    let mut record = Record::new(crate::Timestamp(0), "mail to a@b.io");
    record.host = "ops@node.example".into();
    record
        .labels
        .insert("owner".into(), "team@example.com".into());
    record.source_id = Some("x@y.io/stdout".into());
    record.fields = serde_json::from_str(
        r#"{"user":{"email":"c@d.io","cards":["4111111111111111",4111111111111111]},"n":1}"#,
    )
    .unwrap();
    let mut hits = Hits::default();
    assert!(r.redact_record(&mut record, &mut hits));
    assert_eq!(record.message, "mail to [REDACTED:email]");
    assert_eq!(
        serde_json::to_string(&record.fields).unwrap(),
        r#"{"user":{"email":"[REDACTED:email]","cards":["[REDACTED:card]",4111111111111111]},"n":1}"#,
        "strings only; numbers stay"
    );
    assert_eq!(record.host, "ops@node.example", "metadata is not redacted");
    assert_eq!(record.labels["owner"], "team@example.com");
    assert_eq!(record.source_id.as_deref(), Some("x@y.io/stdout"));
    assert_eq!((hits.get(0), hits.get(1)), (2, 1));
}

#[test]
fn json_texts_are_rewritten_in_place() {
    let r = redactor(&["email", "url-password"]);
    let mut hits = Hits::default();
    // Escapes hide a match from a whole-text scan: `\/` and `\u0040`.
    let doc = r#"{"time":"a@b.io", "n" : 2.50, "dsn":"https:\/\/u:pw@h\/x", "who":{"to":["c\u0040d.io"]}, "a@b.io":1}"#;
    assert!(r.may_match_json(doc));
    let out = r.redact_json(doc, &["time"], &mut hits).unwrap();
    assert_eq!(
        out,
        r#"{"time":"a@b.io", "n" : 2.50, "dsn":"https://u:[REDACTED:url-password]@h/x", "who":{"to":["[REDACTED:email]"]}, "a@b.io":1}"#,
        "kept: the top-level time, the number as written, keys; changed: values, nested too"
    );
    assert_eq!(hits.total(), 2);
    // Nothing to change: no new text.
    let clean = r#"{"path":"/api\/v1","n":1}"#;
    assert!(!r.may_match_json(clean));
    assert_eq!(r.redact_json(clean, &[], &mut hits), None);
    // A kept key below the top is not kept.
    let nested = r#"{"x":{"time":"a@b.io"}}"#;
    assert_eq!(
        r.redact_json(nested, &["time"], &mut hits).unwrap(),
        r#"{"x":{"time":"[REDACTED:email]"}}"#
    );
}

#[test]
fn rules_of_ones_own_are_gated_by_a_literal_they_need() {
    let r = redactor(&[
        r"tok=tok_[a-z0-9]{6,}",
        r"pw=(?:password|passwd)\=\S+",
        r"ci=(?i)secret\w+",
    ]);
    let gates: Vec<Option<&[u8]>> = r
        .rules
        .iter()
        .map(|rule| match &rule.gate {
            Gate::Literal(f) => Some(f.needle()),
            _ => None,
        })
        .collect();
    // An alternation needs none of its branches in particular, but `=` it needs; a
    // case-insensitive word is classes, not a literal.
    assert_eq!(gates, [Some(&b"tok_"[..]), Some(&b"="[..]), None]);
    assert!(matches!(r.rules[2].gate, Gate::Ungated(0)));
    assert_eq!(run(&r, "x SECRETvalue y").0, "x [REDACTED:ci] y");
    assert_eq!(
        run(&r, "passwd=a tok_abcdef1").0,
        "[REDACTED:pw] [REDACTED:tok]"
    );
    assert!(!r.is_match("nothing here"));
}

#[test]
fn anchored_rules_check_json_values_one_by_one() {
    let r = redactor(&["start=^secret"]);
    let doc = r#"{"a":"x","b":"secret sauce"}"#;
    assert!(
        !r.rules[0].regex.is_match(doc),
        "a whole-text scan would miss it"
    );
    assert!(r.may_match_json(doc));
    assert_eq!(
        r.redact_json(doc, &[], &mut Hits::default()).unwrap(),
        r#"{"a":"x","b":"[REDACTED:start] sauce"}"#
    );
}

const CONTEXT: &str = "[a-z0-9 .,;:/=@_-]{0,30}";

/// Secrets of each built-in, marked by upper-case letters the context cannot hold, so
/// finding one in the output means it was left there.
fn secret() -> impl Strategy<Value = (String, String)> {
    let card = prop_oneof![
        Just("4111111111111111"),
        Just("4111 1111 1111 1111"),
        Just("5555-5555-5555-4444"),
        Just("378282246310005"),
        Just("6011000990139424"),
    ]
    .prop_map(|c| (c.to_string(), c.to_string()));
    prop_oneof![
        "[A-Z][A-Za-z0-9._~+/-]{7,20}".prop_map(|t| (format!("Bearer {t}"), t)),
        ("[a-z]{1,6}", "[A-Z][A-Za-z0-9!*%]{3,12}")
            .prop_map(|(u, p)| (format!("postgres://{u}:{p}@db.internal:5432/app"), p)),
        ("[A-Z][A-Za-z0-9.+]{0,10}", "[A-Z]{2,8}").prop_map(|(l, d)| {
            let e = format!("{l}@{d}.example.com");
            (e.clone(), e)
        }),
        card,
    ]
}

/// Texts made to be near what the built-ins look for.
fn near_misses() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("Bearer ".to_string()),
            Just("bEaReR\t".to_string()),
            Just("://".to_string()),
            Just("@".to_string()),
            Just(".".to_string()),
            Just(":".to_string()),
            Just(" ".to_string()),
            Just("-".to_string()),
            "[0-9]{1,8}",
            "[a-zA-Z0-9._~+/-]{1,10}",
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn the_card_gate_is_exact(
        parts in proptest::collection::vec(
            prop_oneof![
                "[0-9]{1,20}",
                Just(" ".to_string()),
                Just("-".to_string()),
                Just("  ".to_string()),
                "[a-z\u{e9}]{1,3}",
            ],
            0..40,
        ),
    ) {
        let text = parts.concat();
        let reference = Regex::new(r"[0-9](?:[ -]?[0-9]){12,}").unwrap().is_match(&text);
        prop_assert_eq!(builtin::long_digit_run(text.as_bytes()), reference, "{:?}", text);
        prop_assert!(
            builtin::maybe_long_digit_run(text.as_bytes()) || !reference,
            "the bit masks missed a run in {:?}",
            text
        );
    }

    #[test]
    fn a_gate_never_closes_on_a_text_its_regex_matches(text in near_misses()) {
        for b in BUILTINS {
            let regex = Regex::new(b.pattern).unwrap();
            prop_assert!(
                (b.gate)(text.as_bytes()) || !regex.is_match(&text),
                "{} gate closed on {text:?}",
                b.name
            );
        }
    }

    #[test]
    fn a_redacted_text_never_holds_the_secret(
        prefix in CONTEXT,
        suffix in CONTEXT,
        before in prop_oneof![Just(" "), Just(","), Just("("), Just("\""), Just("\n")],
        after in prop_oneof![Just(" "), Just(","), Just(")"), Just("\""), Just("\n")],
        (text, secret) in secret(),
    ) {
        let r = redactor(&["bearer", "url-password", "card", "email"]);
        let line = format!("{prefix}{before}{text}{after}{suffix}");
        let (out, hits) = run(&r, &line);
        prop_assert!(!out.contains(&secret), "{line:?} → {out:?}");
        prop_assert!(hits.iter().sum::<u64>() >= 1);
    }

    #[test]
    fn a_redacted_json_text_never_holds_the_secret(
        key in "k_[a-z]{1,8}",
        prefix in CONTEXT,
        (text, secret) in secret(),
        nested in proptest::bool::ANY,
        escape_slashes in proptest::bool::ANY,
        escape_at in proptest::bool::ANY,
    ) {
        let r = redactor(&["bearer", "url-password", "card", "email"]);
        let value = format!("{prefix} {text}");
        let doc = if nested {
            serde_json::json!({"n": 1.5, key.clone(): {"list": [value, 7]}})
        } else {
            serde_json::json!({key.clone(): value, "n": 1.5})
        };
        // What other JSON writers do: `\/` for `/`, `\u0040` for `@`.
        let mut json = doc.to_string();
        if escape_slashes {
            json = json.replace('/', "\\/");
        }
        if escape_at {
            json = json.replace('@', "\\u0040");
        }
        prop_assert!(r.may_match_json(&json), "{json}");
        let out = r.redact_json(&json, &[], &mut Hits::default()).unwrap();
        let back: Value = serde_json::from_str(&out).unwrap();
        prop_assert!(!back.to_string().contains(&secret), "{json} → {out}");
    }

    #[test]
    fn a_rule_of_ones_own_removes_every_occurrence(
        secret in "[A-Z]{8}",
        parts in proptest::collection::vec("[a-z .=-]{0,12}", 1..5),
    ) {
        let r = Redactor::new([RuleSpec::parse(&format!("mine={}", regex::escape(&secret))).unwrap()]).unwrap();
        let line = parts.join(&secret);
        let (out, hits) = run(&r, &line);
        prop_assert!(!out.contains(&secret));
        prop_assert_eq!(hits[0], parts.len() as u64 - 1);
    }

    #[test]
    fn the_json_check_never_misses_what_redaction_changes(
        values in proptest::collection::vec("[a-zA-Z0-9@:/. =\\\\\"-]{0,24}", 1..4),
    ) {
        let r = redactor(&["url-password", "email", "x=^[A-Z]", "y=[0-9]$"]);
        let doc: Map<String, Value> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("k{i}"), Value::String(v.clone())))
            .collect();
        let json = serde_json::to_string(&doc).unwrap();
        let changed = r.redact_json(&json, &[], &mut Hits::default()).is_some();
        prop_assert!(!changed || r.may_match_json(&json), "{json}");
    }
}
