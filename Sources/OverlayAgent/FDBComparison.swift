import Addresses
import Overlay

/// Desired against actual rows of one device, for `grapevine fdb`: one line per key either
/// side has, sorted by kind then key.
enum FDBComparison {
    static func lines(desired: NetworkRows, observed: ObservedRows) -> [FDBLine] {
        var out: [FDBLine] = []
        for vtep in Set(desired.flood).union(observed.flood.keys).sorted() {
            let want = desired.flood.contains(vtep)
            let origin = observed.flood[vtep]
            out.append(FDBLine(kind: "flood", key: "00:00:00:00:00:00 dst \(vtep)", desired: want ? "\(vtep)" : nil,
                               actual: origin == nil ? nil : "\(vtep)", origin: origin.map(name),
                               status: status(want: want ? vtep : nil, have: origin == nil ? nil : vtep, origin: origin)))
        }
        for mac in Set(desired.unicast.keys).union(observed.unicast.keys).sorted() {
            let want = desired.unicast[mac], have = observed.unicast[mac]
            out.append(FDBLine(kind: "unicast", key: "\(mac)", desired: want.map { "\($0)" }, actual: have.map { "\($0.value)" },
                               origin: have.map { name($0.origin) }, status: status(want: want, have: have?.value, origin: have?.origin)))
        }
        for ip in Set(desired.neighbors.keys).union(observed.neighbors.keys).sorted() {
            let want = desired.neighbors[ip], have = observed.neighbors[ip]
            let haveMAC: MACAddress? = have?.value
            out.append(FDBLine(kind: "neighbor", key: "\(ip)", desired: want.map { "\($0)" }, actual: haveMAC.map { "\($0)" },
                               origin: have.map { name($0.origin) }, status: status(want: want, have: haveMAC, origin: have?.origin)))
        }
        return out
    }

    static func status<V: Equatable>(want: V?, have: V?, origin: RowOrigin?) -> String {
        switch (want, have) {
        case (nil, nil): return "ok"
        case (nil, _?): return origin == .ours ? "extra" : origin == .foreign ? "foreign" : "learned"
        case (_?, nil): return "missing"
        case (let w?, let h?):
            if w == h { return origin == .learned ? "wrong" : "ok" }
            return origin == .foreign ? "blocked" : "wrong"
        }
    }

    static func name(_ origin: RowOrigin) -> String {
        switch origin {
        case .ours: "ours"
        case .learned: "learned"
        case .foreign: "foreign"
        }
    }
}
