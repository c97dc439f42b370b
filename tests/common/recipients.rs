//! Helpers the recipients tests share.

use crate::common::rawserver::{Action, RawServer};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A platform whose agentless route records each message's body.
pub fn sms_platform() -> (RawServer, Arc<Mutex<Vec<Value>>>) {
    let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
    let seen = bodies.clone();
    let server = crate::common::rawserver::platform(move |req| {
        if req.path.ends_with("/agentless") {
            let mut bodies = seen.lock().unwrap();
            bodies.push(serde_json::from_str(&req.body).unwrap());
            let id = format!("m{}", bodies.len());
            Action::ok(
                &json!({"id": "outbound", "message": {"id": id, "status": "queued"}}).to_string(),
            )
        } else {
            Action::status(404, "")
        }
    });
    (server, bodies)
}

pub const SMS: [&str; 4] = ["--agentless", "sms", "--from", "+18005550100"];

/// A CRM export of `n` customers: phone, name, time, notes.
pub fn export(path: &Path, n: usize) {
    let mut csv = String::from("phone,name,time,notes\n");
    for i in 0..n {
        csv.push_str(&format!(
            "+1317555{i:04},Customer {i},10:{:02},VIP\n",
            i % 60
        ));
    }
    std::fs::write(path, csv).unwrap();
}
