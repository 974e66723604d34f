import GossipWire
import NIOCore

extension FuzzOne {
    /// The key-command payloads: refused or accepted, never a trap, and what is accepted
    /// re-encodes to exactly its bytes.
    static func keyCommands(_ bytes: [UInt8]) {
        var b = ByteBuffer(bytes: bytes)
        if let request = try? KeyRequest.decode(&b) {
            var again = ByteBuffer()
            request.encode(into: &again)
            if Array(again.readableBytesView) != bytes { fatalError("non-canonical key request accepted: \(bytes)") }
        }
        b = ByteBuffer(bytes: bytes)
        if let response = try? KeyResponse.decode(&b) {
            var again = ByteBuffer()
            response.encode(into: &again)
            if Array(again.readableBytesView) != bytes { fatalError("non-canonical key response accepted: \(bytes)") }
            if response.encodedSize > KeyResponse.maxSize { fatalError("key response over its bound accepted") }
        }
    }
}
