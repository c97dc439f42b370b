//! Posts one JSON body with a bare ureq agent: what any program that talks
//! to an HTTPS API with ureq pays. Compare with `../minimal`.

fn main() -> Result<(), ureq::Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:9/".into());
    let mut answer = ureq::post(&url)
        .header("content-type", "application/json")
        .send(br#"{"textBody":"hello"}"#)?;
    println!("{}", answer.body_mut().read_to_string()?);
    Ok(())
}
