public import NIOCore
public import NIOHTTP1

/// An answer being read: the status and headers, then the body as it arrives. Only valid
/// inside the closure `LocalHTTPClient.execute` hands it to (the connection closes after).
public struct LocalHTTPAnswer {
    public let status: Int
    public let headers: HTTPHeaders
    let endpoint: LocalHTTPClient.Endpoint
    var parts: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    let expired: () -> TimeAmount?
    var ended = false
    var pending = ByteBuffer()

    /// The next piece of the body as it came off the socket; nil after its end.
    /// - Throws: `LocalHTTPError.timedOut` or `.cutOff`.
    public mutating func next() async throws(LocalHTTPError) -> ByteBuffer? {
        if pending.readableBytes > 0 {
            defer { pending.clear() }
            return pending
        }
        return try await nextPart()
    }

    /// The rest of the body, at most `limit` bytes.
    /// - Throws: `LocalHTTPError.tooLarge` past `limit`, `.timedOut`, `.cutOff`.
    public mutating func collect(upTo limit: Int) async throws(LocalHTTPError) -> ByteBuffer {
        var body = ByteBuffer()
        while var piece = try await next() {
            guard body.readableBytes + piece.readableBytes <= limit else { throw .tooLarge(endpoint, limit: limit) }
            body.writeBuffer(&piece)
        }
        return body
    }

    /// The next line of a newline-delimited body, without its newline and skipping empty
    /// lines; an unterminated last line counts; nil after the end.
    /// - Throws: `LocalHTTPError.tooLarge` for a line over `limit` bytes, `.timedOut`, `.cutOff`.
    public mutating func nextLine(upTo limit: Int) async throws(LocalHTTPError) -> ByteBuffer? {
        while true {
            if let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                let line = pending.readSlice(length: newline - pending.readerIndex)!
                pending.moveReaderIndex(forwardBy: 1)
                if line.readableBytes > 0 { return line }
                continue
            }
            guard pending.readableBytes <= limit else { throw .tooLarge(endpoint, limit: limit) }
            guard var piece = try await nextPart() else {
                guard pending.readableBytes > 0 else { return nil }
                defer { pending.clear() }
                return pending
            }
            pending.writeBuffer(&piece)
        }
    }

    private mutating func nextPart() async throws(LocalHTTPError) -> ByteBuffer? {
        if ended { return nil }
        let part: HTTPClientResponsePart?
        do { part = try await parts.next() } catch { throw failure(error) }
        switch part {
        case .body(let bytes): return bytes
        case .end: ended = true; return nil
        case .head: throw .cutOff(endpoint, reason: "a second response head")
        case nil: throw failure(nil)
        }
    }

    /// What an inbound stream that ended early means: the deadline, or the peer.
    func failure(_ error: (any Error)?) -> LocalHTTPError {
        if let after = expired() { return .timedOut(endpoint, after: after) }
        return .cutOff(endpoint, reason: error.map { "\($0)" } ?? "the connection closed")
    }
}
