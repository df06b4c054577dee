//! A hostile caller: whatever it sends, it gets a clear client-error status, never `INTERNAL` or
//! internal text, and it cannot hurt another tenant.

mod malformed;
mod nul_fields;
mod oversized;
mod page_tokens;
mod waits;

use prost_reflect::DescriptorPool;

/// The contract's descriptors, as the services publish them through reflection.
pub fn descriptors() -> DescriptorPool {
    DescriptorPool::decode(lma_proto::FILE_DESCRIPTOR_SET).expect("the contract's descriptors")
}
