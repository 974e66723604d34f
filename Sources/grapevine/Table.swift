#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// Columns padded to their widest cell, two spaces apart (the last column is not padded).
struct Table {
    var header: [String]
    var rows: [[String]] = []

    func render() -> String {
        let widths = header.indices.map { column in
            ([header] + rows).map { column < $0.count ? $0[column].count : 0 }.max() ?? 0
        }
        return ([header] + rows).map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toWidth: widths[column])
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    func print() { Swift.print(render()) }
}

extension String {
    fileprivate func padding(toWidth width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

/// `k=v,k=v`, sorted by key.
func tagList(_ tags: [String: String]) -> String {
    tags.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
}

/// The API's JSON as it came, one document per line, flushed (streams are read live).
func printJSON(_ buffer: ByteBuffer) {
    print(String(buffer: buffer))
    fflush(nil)
}

/// Splits `KEY=VALUE` (the value may hold `=`); nil when there is no `=` or no key.
func keyValue(_ text: String) -> (key: String, value: String)? {
    guard let equals = text.firstIndex(of: "="), equals != text.startIndex else { return nil }
    return (String(text[..<equals]), String(text[text.index(after: equals)...]))
}
