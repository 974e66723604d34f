import GrapevineTestSupport
import CNetlink
@testable import Netlink
import Testing

/// The bytes that go to the kernel, checked without a kernel: the flags are where the traps are.
@Suite struct MessageCodecTests {
    private func encode(_ changes: [RowChange]) -> [RawMessageCopy] {
        let writer = MessageWriter(capacity: 16)
        for (i, change) in changes.enumerated() {
            writer.append(change, ifindex: 7, sequence: UInt32(100 + i), ownership: Ownership())
        }
        var out: [RawMessageCopy] = []
        let parsed = try? forEachMessage(in: writer.bytes) { message in
            out.append(RawMessageCopy(type: message.type, flags: message.flags, sequence: message.sequence,
                                      parsed: NeighborMessage(message.payload)))
            return true
        }
        #expect(parsed != nil, "the writer's own bytes do not parse")
        return out
    }

    struct RawMessageCopy {
        var type: UInt16
        var flags: UInt16
        var sequence: UInt32
        var parsed: NeighborMessage?
    }

    @Test func unicastIsReplacedAndFloodIsAppended() throws {
        let vtep = try #require(IPAddress("192.0.2.1"))
        let messages = encode([
            .putFDB(FDBEntry(mac: MACAddress(2, 0, 0, 0, 0, 1), destination: vtep, vni: 5000, port: 4790)),
            .putFDB(.flood(to: vtep)),
            .removeFDB(.flood(to: vtep)),
        ])
        #expect(messages.count == 3)
        #expect(messages.map(\.sequence) == [100, 101, 102])
        let request = UInt16(NLM_F_REQUEST)
        #expect(messages[0].flags == request | UInt16(NLM_F_CREATE | NLM_F_REPLACE))
        #expect(messages[1].flags == request | UInt16(NLM_F_CREATE | NLM_F_APPEND))
        #expect(messages[2].type == UInt16(RTM_DELNEIGH))

        let unicast = try #require(messages[0].parsed)
        #expect(unicast.family == UInt8(AF_BRIDGE))
        #expect(unicast.ifindex == 7)
        #expect(unicast.state == UInt16(NUD_PERMANENT))
        #expect(unicast.flags == UInt8(NTF_SELF | NTF_EXT_LEARNED))
        #expect(unicast.mac == MACAddress(2, 0, 0, 0, 0, 1))
        #expect(unicast.ip == vtep)
        #expect(unicast.vni == 5000)
        #expect(unicast.port == 4790)
        let row = try #require(unicast.fdbRow(ownership: Ownership()))
        #expect(row.isOurs)
        // A delete must not carry our mark: the kernel would route it to the wrong handler.
        #expect(messages[2].parsed?.flags == UInt8(NTF_SELF))
    }

    @Test func neighboursArePermanentReplacedAndCarryOurProtocol() throws {
        let address = try #require(IPAddress("fd00::7"))
        let messages = encode([.putNeighbor(NeighborEntry(ip: address, mac: MACAddress(2, 0, 0, 0, 0, 9)))])
        let message = try #require(messages.first)
        #expect(message.flags == UInt16(NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE))
        let parsed = try #require(message.parsed)
        #expect(parsed.family == UInt8(AF_INET6))
        #expect(parsed.state == UInt16(NUD_PERMANENT))
        #expect(parsed.protocolNumber == 241)
        #expect(parsed.neighborRow(ownership: Ownership())?.isOurs == true)
        #expect(parsed.neighborRow(ownership: Ownership(neighborProtocol: 99))?.isOurs == false)
    }

    @Test func truncatedInputIsIgnoredNotTrusted() {
        let bytes: [UInt8] = [200, 0, 0, 0, 28, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0]
        var seen = 0
        _ = bytes.withUnsafeBytes { raw in
            try? forEachMessage(in: raw) { _ in
                seen += 1
                return true
            }
        }
        #expect(seen == 0)
        // An attribute whose length runs past the end is dropped.
        let header = [UInt8](repeating: 0, count: 12)
        let attribute: [UInt8] = [40, 0, 1, 0, 10, 0, 0, 1]
        (header + attribute).withUnsafeBytes { raw in
            #expect(NeighborMessage(raw)?.ip == nil)
        }
    }
}
