public import Addresses

/// An IPv4 subnet cut into blocks of addresses, the unit hosts claim (`BlockClaim`) so that
/// each hands out addresses from its own blocks with no central store (the scheme of Calico's
/// IPAM, which claims /26 blocks; ours are /28, since an overlay host runs few containers
/// per network and a /24, Docker's usual subnet, then has 16 blocks to share).
///
/// Blocks are `blockSize` addresses, aligned, numbered from 0 at the network address. Three
/// addresses are never handed out: the network address, the broadcast address, and the
/// gateway (the first address after the network address, Docker's default gateway and the
/// bridge's address). Everything is computed, never listed: a /8 has 2²⁰ blocks.
public struct AddressBlocks: Hashable, Sendable {
    /// Blocks are /28s, or the whole subnet when it is smaller.
    public static let maxBlockSize: UInt32 = 16

    public let subnet: Subnet
    /// Addresses per block: `maxBlockSize`, or the subnet's size when smaller (4 ... 16).
    public let blockSize: UInt32
    /// Blocks in the subnet, 1 ... 2²⁸ (a /0).
    public let count: UInt32

    /// The network and broadcast addresses, as integers.
    private let first: UInt32
    private let last: UInt32

    /// nil for an IPv6 subnet, or an IPv4 one narrower than /30: a /31 or /32 has no address
    /// left once the network, gateway and broadcast addresses are set aside.
    public init?(_ subnet: Subnet) {
        guard case .v4(let base) = subnet.base, let size = subnet.size, subnet.prefix <= 30 else { return nil }
        self.subnet = subnet
        self.first = base
        // The subnet is aligned, so base + size - 1 ≤ 2³² - 1; size is 4 ... 2³², so the
        // block size (≤ 16) and the count (≤ 2²⁸) fit a UInt32.
        self.last = UInt32(truncatingIfNeeded: UInt64(base) + size - 1)
        self.blockSize = UInt32(min(UInt64(Self.maxBlockSize), size))
        self.count = UInt32(size / UInt64(blockSize))
    }

    /// The first address after the network address.
    public var gateway: IPAddress { .v4(first + 1) }

    /// The network, gateway and broadcast addresses (`address` an IPv4 address as an integer).
    public func isReserved(_ address: UInt32) -> Bool {
        address == first || address == first + 1 || address == last
    }

    /// The block `ip` is in; nil when it is not in the subnet.
    public func index(of ip: IPAddress) -> UInt32? {
        guard subnet.contains(ip), case .v4(let v) = ip else { return nil }
        return (v - first) / blockSize
    }

    /// The addresses of block `index`, reserved ones included; nil past the last block.
    public func addresses(in index: UInt32) -> ClosedRange<UInt32>? {
        guard index < count else { return nil }
        // index < count, so start + blockSize - 1 is at most `last`: no overflow.
        let start = first + index * blockSize
        return start...(start + (blockSize - 1))
    }

    /// The block a host tries first: a stable hash of its name (FNV-1a, 64 bits, of its UTF-8),
    /// modulo `count`. Stable across processes and versions (Swift's `Hasher` is seeded per
    /// process), and spread, so hosts that start at once mostly try different blocks.
    public func firstChoice(for host: String) -> UInt32 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in host.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return UInt32(hash % UInt64(count))
    }

    /// The first block, from `firstChoice(for: host)` on and wrapping around, that `taken`
    /// does not refuse; nil when all are taken. Calls `taken` at most `count` times.
    public func nextFreeBlock(for host: String, taken: (UInt32) -> Bool) -> UInt32? {
        let start = firstChoice(for: host)
        for step in 0..<count {
            // start + step < 2 * count ≤ 2²⁹: no overflow.
            let index = (start + step) % count
            if !taken(index) { return index }
        }
        return nil
    }

    /// The lowest address of `blocks` (taken in increasing index order; indices past the last
    /// block are skipped) that is neither reserved nor refused by `excluding` (the addresses
    /// already handed out); nil when there is none.
    public func nextFreeAddress(in blocks: [UInt32], excluding: (UInt32) -> Bool) -> IPAddress? {
        for index in blocks.sorted() {
            guard let range = addresses(in: index) else { continue }
            for address in range where !isReserved(address) && !excluding(address) { return .v4(address) }
        }
        return nil
    }
}
