import Synchronization

private let loopbackAddressesGiven = Atomic<UInt32>(0)

/// A loopback IPv4 address (host byte order) no other caller in this process has been given:
/// 127.1.0.1, 127.1.0.2, ... (last octet 1 to 250, second octet 1 to 64, so clear of 127.0.0.1
/// and of the 127.66/16 that fake members point at); wraps after 4,096,000 addresses.
///
/// Tests run in parallel in one process, and a node keeps sending to a member it has not yet
/// declared failed after that member's test stopped it. Were every node bound on 127.0.0.1, a
/// node of another test given the same ephemeral port would receive those datagrams: another
/// cluster's news about members of the same names ("a", "c"), or, between keyed clusters,
/// datagrams it counts as unauthenticated. On an address of its own, a node hears only the
/// members of its own test; what is sent to a stopped node's address is answered by the
/// kernel with ICMP port unreachable.
public func freshLoopbackIPv4() -> UInt32 {
    let n = loopbackAddressesGiven.wrappingAdd(1, ordering: .relaxed).oldValue % 4_096_000
    let block = n / 250
    return 0x7f00_0000 | (1 + block / 256) << 16 | (block % 256) << 8 | (1 + n % 250)
}
