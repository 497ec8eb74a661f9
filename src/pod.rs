//! Plain-old-data message types that may be written into and read out of shared memory.

/// A type whose values can be copied byte for byte into shared memory and read back in
/// another process.
///
/// # Safety
///
/// Implement this only for a type that
/// - is `#[repr(C)]` or `#[repr(transparent)]` (or a primitive), so both processes agree
///   on its layout;
/// - holds no pointers, references, file descriptors or other process-local handles
///   (the other process maps memory at other addresses);
/// - has no padding bytes (they would carry uninitialised memory into the segment);
/// - is valid for every bit pattern (a broken or hostile peer can write any bytes);
/// - has an alignment of at most [`SLOT_ALIGN`](crate::SLOT_ALIGN), the alignment of a
///   message's first byte in a shared-memory slot, so that a loan or a received message
///   can be cast to it in place.
///
/// # Examples
///
/// ```
/// #[derive(Clone, Copy)]
/// #[repr(C)]
/// struct Tick {
///     seq: u64,
///     price: f64,
/// }
/// // SAFETY: repr(C), two 8-byte fields, no padding, no pointers, any bits are valid.
/// unsafe impl ferry::Pod for Tick {}
/// ```
pub unsafe trait Pod: Copy + 'static {}

macro_rules! pod {
    ($($t:ty),*) => {
        // SAFETY: primitives without padding, valid for every bit pattern.
        $(unsafe impl Pod for $t {})*
    };
}
pod!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, f32, f64);

// SAFETY: an array of `Pod` has no padding between elements and inherits the rest.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}
