//! How each client connection ended, from what the proxy observed: its own calls' results,
//! what it did (FIN, RST, forgetting), the kernel's RST events (tracefs, when root) and the
//! client's socket as sock_diag shows it (when the client is on this host). Pure: the edge
//! gathers the [`Facts`], [`classify`] turns them into the shared `core::ending` vocabulary.
//! Whatever was not observed is `None` and printed as unknown.

use crate::chain::Acted;
use serde::Serialize;
use tcpmortem_core::TcpState;
use tcpmortem_core::ending::{Kind, Role, Saw, error_name, saw_reset};
use tcpmortem_core::{Os, RstReason};

/// A RST the kernel reported (tcp:tcp_send_reset), toward or from the client.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RstSeen {
    /// `proxy` (the proxy host's kernel, for the proxy's socket or for no socket at all)
    /// or `client`.
    pub by: &'static str,
    pub reason: Option<String>,
    /// The sending socket's state, as the tracepoint gives it.
    pub state: Option<&'static str>,
    /// Milliseconds since the connection was accepted.
    pub at_ms: f64,
}

/// What the proxy did to, and saw from, the client's side.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facts {
    /// The client's FIN (recv returned 0), ms since accept.
    pub client_fin_ms: Option<f64>,
    /// recv/send on the client's socket failed with this errno (ECONNRESET: the client reset).
    pub client_error: Option<String>,
    /// The proxy sent a FIN toward the client (close or shutdown), ms since accept.
    pub proxy_fin_ms: Option<f64>,
    /// The proxy reset the client (SO_LINGER 0 close), ms since accept.
    pub proxy_rst_ms: Option<f64>,
    /// The proxy forgot the client's connection (TCP_REPAIR close: nothing sent).
    pub forgotten_ms: Option<f64>,
    /// The client's segments are dropped unanswered from then on.
    pub black_holed_ms: Option<f64>,
    /// Connecting to the upstream failed with this errno; the proxy then closed the client.
    pub upstream_error: Option<String>,
    /// The proxy stopped (disabled, deleted or shut down) while the connection was open.
    pub stopped: bool,
    /// RSTs of this connection from the kernel's tracepoints; None without tracefs.
    pub rsts: Option<Vec<RstSeen>>,
    /// The client's socket received a RST (tcp:tcp_receive_reset on its socket).
    pub client_received_rst: Option<bool>,
    /// The proxy's socket toward the client, just before the proxy closed it (TCP_INFO).
    pub proxy_socket_state: Option<TcpState>,
    /// The client's own socket when last seen by sock_diag (the client is on this host);
    /// `Some(None)`: it was seen before and is gone now (closed, or reset into CLOSE).
    /// Shown once, as the report's `client_socket_state`.
    #[serde(skip)]
    pub client_socket_state: Option<Option<TcpState>>,
    /// The proxy's socket went from FIN_WAIT to nothing without passing TIME_WAIT: it was
    /// reset (sock_diag, seen without tracefs).
    pub orphan_vanished: bool,
}

/// One ended (or live) client connection, as the report and `/connections` show it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub proxy: String,
    pub status: &'static str,
    pub client: String,
    pub listen: String,
    pub upstream: String,
    pub upstream_local: Option<String>,
    /// RFC 3339, UTC.
    pub start: String,
    pub duration_ms: f64,
    pub bytes_from_client: u64,
    pub bytes_to_client: u64,
    pub toxics: Vec<Acted>,
    pub client_end: ClientEnd,
    pub proxy_socket_state: Option<&'static str>,
    /// `gone` when it existed and no longer does; null when it was never seen (not on this
    /// host, or already gone).
    pub client_socket_state: Option<&'static str>,
    pub ending: Ending,
    pub client_saw: SawJson,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientEnd {
    /// `fin`, `rst`, `forgotten` (nothing sent), `black-holed`, or `none` yet.
    pub how: &'static str,
    /// `client` or `proxy`; null when nobody ended it.
    pub by: Option<&'static str>,
    /// The kernel's RST reason, from tracefs; null without root or when no RST was seen.
    pub rst_reason: Option<String>,
    pub facts: Facts,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ending {
    pub kind: &'static str,
    pub text: String,
    pub abnormal: bool,
    /// `client` or `server` (the proxy plays the server for the client).
    pub by: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SawJson {
    pub linux: Option<String>,
    pub windows: Option<String>,
    pub macos: Option<String>,
    pub note: &'static str,
}

impl SawJson {
    pub fn from(s: &Saw) -> SawJson {
        let name = |id: Option<&str>, os| id.map(|id| error_name(id, os));
        SawJson {
            linux: name(s.linux, Os::Linux),
            windows: name(s.windows, Os::Windows),
            macos: name(s.macos, Os::Macos),
            note: s.note,
        }
    }
}

/// The verdict for the client's side.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub kind: Kind,
    pub by: Option<Role>,
    pub how: &'static str,
    pub end_by: Option<&'static str>,
    pub rst_reason: Option<String>,
    pub saw: Saw,
}

/// The RST reasons that mean the proxy's kernel answered data sent after its close.
const LATE_DATA: [&str; 3] = ["TCP_ABORT_ON_DATA", "TCP_TIMEWAIT_SOCKET", "NO_SOCKET"];

/// Turns what was observed into the ending of the client's side, in `core::ending`'s words.
pub fn classify(f: &Facts, ended: bool) -> Verdict {
    let proxy_rst = f
        .rsts
        .as_ref()
        .and_then(|v| v.iter().find(|r| r.by == "proxy"));
    let reason = proxy_rst.and_then(|r| r.reason.clone());
    let client_gone = matches!(f.client_socket_state, Some(None))
        || matches!(f.client_socket_state, Some(Some(TcpState::Close)));
    // A RST reached the client: traced; or the proxy's closed socket vanished without
    // passing TIME_WAIT; or, where the proxy sent nothing at all, the client's socket vanished
    // (after a FIN from the proxy, a vanished client socket may just have closed normally).
    let rst_reached = f.client_received_rst == Some(true)
        || proxy_rst.is_some()
        || f.orphan_vanished
        || (client_gone && f.client_fin_ms.is_none() && f.proxy_fin_ms.is_none());
    let v = |kind, by, how, end_by, saw| Verdict {
        kind,
        by,
        how,
        end_by,
        rst_reason: reason.clone(),
        saw,
    };
    if let Some(e) = &f.client_error
        && e == "ECONNRESET"
        && f.proxy_rst_ms.is_none()
        && f.forgotten_ms.is_none()
    {
        return v(
            Kind::AbortiveClose,
            Some(Role::Client),
            "rst",
            Some("client"),
            Saw::nothing("it reset the connection itself"),
        );
    }
    if f.forgotten_ms.is_some() {
        return if rst_reached {
            v(
                Kind::HalfOpen,
                Some(Role::Server),
                "rst",
                Some("proxy"),
                saw_reset(TcpState::Established),
            )
        } else {
            v(
                Kind::HalfOpen,
                Some(Role::Server),
                "forgotten",
                Some("proxy"),
                Saw::nothing(
                    "not yet: the proxy forgot the connection without a word; the client's next segment meets RST (ECONNRESET)",
                ),
            )
        };
    }
    if f.black_holed_ms.is_some() {
        return v(
            if client_gone {
                Kind::RetransmissionTimeout
            } else {
                Kind::StillOpen
            },
            Some(Role::Client).filter(|_| client_gone),
            "black-holed",
            Some("proxy"),
            if client_gone {
                Saw::RTO
            } else {
                Saw::nothing(
                    "not yet: its segments are dropped unanswered; once it sends, ETIMEDOUT when its retransmissions give up (tcp_retries2 or TCP_USER_TIMEOUT)",
                )
            },
        );
    }
    if f.proxy_rst_ms.is_some() {
        let after_fin = f.proxy_fin_ms.is_some_and(|fin| Some(fin) < f.proxy_rst_ms);
        let state = if f.client_fin_ms.is_some() {
            TcpState::FinWait2
        } else {
            TcpState::Established
        };
        return v(
            if after_fin {
                Kind::DataAfterClose
            } else {
                Kind::AbortiveClose
            },
            Some(Role::Server),
            "rst",
            Some("proxy"),
            if after_fin {
                saw_reset(TcpState::CloseWait)
            } else {
                saw_reset(state)
            },
        );
    }
    match (f.proxy_fin_ms, f.client_fin_ms) {
        (Some(p), Some(c)) => {
            let by = if c <= p { Role::Client } else { Role::Server };
            v(
                Kind::GracefulClose,
                Some(by),
                "fin",
                Some(if by == Role::Client {
                    "client"
                } else {
                    "proxy"
                }),
                Saw::EOF,
            )
        }
        (Some(_), None) => {
            let late_rst = rst_reached && reason.as_deref().is_none_or(|r| LATE_DATA.contains(&r));
            if late_rst {
                v(
                    Kind::DataAfterClose,
                    Some(Role::Server),
                    "rst",
                    Some("proxy"),
                    saw_reset(TcpState::CloseWait),
                )
            } else {
                v(
                    Kind::HalfClosed,
                    Some(Role::Server),
                    "fin",
                    Some("proxy"),
                    Saw::EOF,
                )
            }
        }
        (None, Some(_)) => v(
            Kind::HalfClosed,
            Some(Role::Client),
            "fin",
            Some("client"),
            Saw::nothing("it closed first; the proxy had not closed yet"),
        ),
        (None, None) => v(
            Kind::StillOpen,
            None,
            "none",
            None,
            Saw::nothing(if ended {
                "nothing was observed on the client's side"
            } else {
                "the connection is open"
            }),
        ),
    }
}

/// The ending's sentence for the client's side.
pub fn text(v: &Verdict, f: &Facts) -> String {
    let reason = v
        .rst_reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    match v.kind {
        Kind::HalfOpen if v.how == "rst" => format!(
            "the proxy forgot the connection without a FIN or RST; the client's next segment met a RST{reason}: a half-open connection, as after a peer reboot"
        ),
        Kind::HalfOpen => "the proxy forgot the connection without a FIN or RST; the client has not sent anything since".into(),
        Kind::AbortiveClose if v.by == Some(Role::Client) => "the client reset the connection".into(),
        Kind::AbortiveClose => format!("the proxy reset the client's connection{reason}"),
        Kind::DataAfterClose => format!(
            "the proxy closed toward the client (FIN); the client's later data was answered with RST{reason}: the seed's 10053 pattern"
        ),
        Kind::GracefulClose => format!(
            "closed gracefully, the {} first",
            if v.by == Some(Role::Client) { "client" } else { "proxy" }
        ),
        Kind::HalfClosed if v.by == Some(Role::Server) => {
            if let Some(e) = &f.upstream_error {
                format!("the upstream refused the proxy ({e}); the proxy closed the client's connection (FIN)")
            } else {
                "the proxy closed toward the client (FIN); the client never closed its side".into()
            }
        }
        Kind::HalfClosed => "the client closed its side (FIN); the proxy's side stayed open".into(),
        Kind::RetransmissionTimeout => "the client's segments were dropped unanswered until its socket gave up".into(),
        Kind::StillOpen if v.how == "black-holed" => {
            "the connection was forgotten silently: the client's segments are dropped unanswered".into()
        }
        _ => v.kind.to_string(),
    }
}

/// RST reasons in the kernel's spelling, checked against core's list.
pub fn reason_name(r: &RstReason) -> String {
    r.name()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verdict_reports_only_what_its_ending_allows() {
        let cases = [
            Facts {
                forgotten_ms: Some(1.0),
                client_received_rst: Some(true),
                ..Facts::default()
            },
            Facts {
                proxy_fin_ms: Some(1.0),
                rsts: Some(vec![RstSeen {
                    by: "proxy",
                    reason: Some("TCP_ABORT_ON_DATA".into()),
                    state: Some("FIN_WAIT2"),
                    at_ms: 5.0,
                }]),
                ..Facts::default()
            },
            Facts {
                proxy_rst_ms: Some(0.0),
                ..Facts::default()
            },
            Facts {
                client_fin_ms: Some(1.0),
                proxy_fin_ms: Some(2.0),
                ..Facts::default()
            },
            Facts {
                black_holed_ms: Some(1.0),
                client_socket_state: Some(None),
                ..Facts::default()
            },
            Facts::default(),
        ];
        let want = [
            Kind::HalfOpen,
            Kind::DataAfterClose,
            Kind::AbortiveClose,
            Kind::GracefulClose,
            Kind::RetransmissionTimeout,
            Kind::StillOpen,
        ];
        for (f, k) in cases.iter().zip(want) {
            let v = classify(f, true);
            assert_eq!(v.kind, k, "{f:?}");
            for id in [v.saw.linux, v.saw.windows, v.saw.macos]
                .into_iter()
                .flatten()
            {
                assert!(v.kind.may_report(id), "{k:?} may not report {id}");
            }
        }
        let v = classify(&cases[1], true);
        assert_eq!(v.saw.linux, Some("epipe"));
        assert_eq!(v.saw.windows, Some("econnaborted"));
        assert_eq!(v.rst_reason.as_deref(), Some("TCP_ABORT_ON_DATA"));
    }

    #[test]
    fn a_fin_with_no_evidence_of_a_rst_stays_half_closed() {
        let f = Facts {
            proxy_fin_ms: Some(1.0),
            ..Facts::default()
        };
        assert_eq!(classify(&f, true).kind, Kind::HalfClosed);
    }
}
