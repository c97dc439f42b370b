//! Injects one message with genesys-inject, configured from the
//! environment: a minimal user program. Compare with `../bare`.

use genesys_inject::{ContentBlock, InjectRequest, Injector};

fn main() -> Result<(), genesys_inject::Error> {
    let injector = Injector::from_env()?;
    let receipt = injector.inject(&InjectRequest::new(
        "ec35f2a8-289b-42d4-8893-c50eaf81a3c1",
        "0b2d9a4e-6f1c-4c7e-9a55-1d3f8e2b7c90",
        vec![ContentBlock::text("hello")],
    ))?;
    println!("{:?}", receipt.message_id);
    Ok(())
}
