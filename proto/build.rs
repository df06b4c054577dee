//! Compiles `lma/v1/*.proto` without `protoc`: protox parses the files into a descriptor set,
//! which is both handed to tonic-prost-build for code generation and written out for reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "lma/v1/common.proto",
        "lma/v1/ingest.proto",
        "lma/v1/search.proto",
        "lma/v1/refresh.proto",
        "lma/v1/privacy.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }

    let descriptors = protox::compile(files, ["."])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("lma_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
