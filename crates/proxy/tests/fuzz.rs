//! Hostile request bodies (proptest): whatever JSON arrives, parsing a toxic or a proxy
//! never panics, errors carry Toxiproxy's 400, and what parses serializes back with every
//! attribute of its type.

use proptest::prelude::*;
use serde_json::{Value, json};
use tcpmortem_proxy::api::ProxyInput;
use tcpmortem_proxy::toxics::{Toxic, Type};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-z_]{0,12}".prop_map(Value::String),
        prop::sample::select(Type::ALL.iter().map(|t| t.name()).collect::<Vec<_>>())
            .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "name",
                    "type",
                    "stream",
                    "toxicity",
                    "attributes",
                    "latency",
                    "jitter",
                    "rate",
                    "delay",
                    "timeout",
                    "bytes",
                    "after_bytes",
                    "idle",
                    "silent",
                    "listen",
                    "upstream",
                    "enabled",
                    "average_size",
                    "size_variation",
                ])
                .prop_map(String::from),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn toxic_bodies_never_panic(body in json_value(), patch in json_value()) {
        match Toxic::from_json(&body) {
            Ok(t) => {
                let out = serde_json::to_value(&t).unwrap();
                let attrs = out["attributes"].as_object().unwrap();
                prop_assert_eq!(attrs.len(), t.kind.attribute_names().len());
                // Any attributes run: data, time far ahead, EOF, removal.
                let now = std::time::Instant::now();
                let mut st = t.stage(now, 0.0);
                let mut out = Vec::new();
                st.data(now, vec![7; 3000], &mut out);
                if let Some(d) = st.deadline() {
                    st.poll(d, &mut out);
                }
                st.eof(now, &mut out);
                st.remove(&mut out);
                if let Ok(p) = t.patched(&patch) {
                    prop_assert_eq!(&p.name, &t.name);
                    prop_assert_eq!(p.kind, t.kind);
                }
            }
            Err(e) => {
                let api: tcpmortem_proxy::api::ApiError = e.into();
                prop_assert_eq!(api.status, 400);
            }
        }
    }

    #[test]
    fn proxy_bodies_never_panic(body in json_value()) {
        if let Err(e) = ProxyInput::for_create(&body) {
            prop_assert_eq!(e.status, 400);
        }
        if let Err(e) = ProxyInput::list(&body) {
            prop_assert_eq!(e.status, 400);
        }
    }
}
