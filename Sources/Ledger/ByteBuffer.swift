/// Growable bytes in one allocation, for the canonical encoder: it appends
/// tens of small pieces per event, and Array's per-append bookkeeping
/// (uniqueness and capacity checks, generic copying) was a fifth of the
/// verifier's time. Copy-on-write, like Array.
struct ByteBuffer: @unchecked Sendable {  // storage is copied before any shared mutation
    private final class Storage {
        var base: UnsafeMutableRawPointer
        var count = 0
        var capacity: Int

        init(capacity: Int) {
            base = .allocate(byteCount: capacity, alignment: 8)
            self.capacity = capacity
        }

        deinit { base.deallocate() }

        func copy() -> Storage {
            let copy = Storage(capacity: capacity)
            copy.base.copyMemory(from: base, byteCount: count)
            copy.count = count
            return copy
        }

        func grow(to needed: Int) {
            let newCapacity = max(needed, capacity * 2)
            let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 8)
            newBase.copyMemory(from: base, byteCount: count)
            base.deallocate()
            base = newBase
            capacity = newCapacity
        }
    }

    private var storage = Storage(capacity: 512)

    var count: Int { storage.count }
    var array: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Room for `extra` more bytes at the end, owned by this value alone.
    /// Inlined with the appends below: they run tens of times per event.
    @inline(__always)
    private mutating func reserve(_ extra: Int) -> UnsafeMutableRawPointer {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        if storage.count + extra > storage.capacity { storage.grow(to: storage.count + extra) }
        return storage.base + storage.count
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        reserve(1).storeBytes(of: byte, as: UInt8.self)
        storage.count += 1
    }

    @inline(__always)
    mutating func append(_ data: UnsafeRawBufferPointer) {
        guard let source = data.baseAddress, data.count > 0 else { return }
        reserve(data.count).copyMemory(from: source, byteCount: data.count)
        storage.count += data.count
    }

    mutating func append(_ data: some Sequence<UInt8>) {
        for byte in data { append(byte) }
    }

    mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    mutating func append(_ data: [UInt8]) {
        data.withUnsafeBytes { append($0) }
    }

    /// Overwrites four bytes at `offset` with `value`, big-endian.
    mutating func store(_ value: UInt32, at offset: Int) {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        storage.base.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
    }

    /// Drops everything from `count` on.
    mutating func truncate(to count: Int) {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        storage.count = min(count, storage.count)
    }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.base, count: storage.count))
    }
}
