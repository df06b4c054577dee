//! The `lma.v1` API contract compiled to Rust: messages, tonic clients and servers, and the
//! encoded descriptor set that the servers publish through gRPC reflection.

/// Everything generated from `proto/lma/v1/*.proto`.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("lma.v1");
}

/// The encoded `FileDescriptorSet` of the whole contract (including the well-known types it
/// imports), served by reflection so grpcurl can `list` and `describe` without proto files.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/lma_descriptor.bin"));
