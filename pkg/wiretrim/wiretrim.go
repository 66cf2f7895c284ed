// Package wiretrim decides which fields of pods and nodes the controller
// decodes at all. It rewrites their protobuf encoding, as it arrives from
// the API server, to the fields the controller reads (the same ones
// controller.Slim keeps), so the informers never build the rest: a pod's
// containers, volumes and container statuses, a node's images and
// addresses, and every object's managed fields.
//
// Decoding watch events is most of what the controller spends CPU on in a
// large rollout, and most of a pod's encoding is fields it never reads.
// The rewrite walks the encoding without decoding it and copies the kept
// fields byte for byte; anything it does not recognise it passes through
// untouched, for the real decoder to accept or reject.
package wiretrim

import (
	"bytes"
	"encoding/binary"
)

// rule says which fields of a message survive, and how kept fields that
// are messages themselves are trimmed in turn.
type rule struct {
	only   []uint64 // if not nil, only these fields survive
	except []uint64 // these fields are dropped
	nested []nestedRule
}

type nestedRule struct {
	field uint64
	rule  *rule
}

// Field numbers from k8s.io/api/core/v1/generated.proto and
// k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto.
var (
	objectMeta = &rule{except: []uint64{17}} // managedFields
	pod        = &rule{nested: []nestedRule{
		{1, objectMeta},
		{2, &rule{only: []uint64{10, 18}}}, // spec: nodeName, affinity
		{3, &rule{only: []uint64{1, 2}}},   // status: phase, conditions
	}}
	node = &rule{nested: []nestedRule{
		{1, objectMeta},
		{2, &rule{only: []uint64{5}}}, // spec: taints
		{3, &rule{only: []uint64{4}}}, // status: conditions
	}}
	podList  = &rule{nested: []nestedRule{{2, pod}}}  // items
	nodeList = &rule{nested: []nestedRule{{2, node}}} // items
)

// prefix starts every object the API server encodes as protobuf; a
// runtime.Unknown envelope follows it.
var prefix = []byte{0x6b, 0x38, 0x73, 0x00}

// Protobuf wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// Trim returns data, an encoded object with its runtime.Unknown envelope,
// with the fields the controller never reads left out if it is a core/v1
// Pod, Node, PodList or NodeList. Anything else, and anything it cannot
// parse, it returns as it is.
func Trim(data []byte) []byte {
	if !bytes.HasPrefix(data, prefix) {
		return data
	}
	envelope := data[len(prefix):]
	r, raw, ok := inspect(envelope)
	if !ok || r == nil {
		return data
	}
	// Only a message that parses all the way down is rewritten.
	size, ok := trimmedSize(raw, r)
	if !ok || size == len(raw) {
		return data
	}
	out := make([]byte, 0, len(data)-len(raw)+size)
	out = append(out, prefix...)
	// Every field of the envelope but raw is copied as it is.
	for rest := envelope; len(rest) > 0; {
		num, typ, n := tag(rest)
		end := n + fieldLen(rest[n:], typ)
		if num == 2 && typ == wireBytes {
			out = appendTag(out, 2, wireBytes)
			out = binary.AppendUvarint(out, uint64(size))
			out = appendTrimmed(out, raw, r)
		} else {
			out = append(out, rest[:end]...)
		}
		rest = rest[end:]
	}
	return out
}

// inspect reads the envelope's type and raw object, and picks the rule for
// that type (nil if the type is not trimmed). It reports false if the
// envelope is not well formed, or holds more than one raw object.
func inspect(envelope []byte) (r *rule, raw []byte, ok bool) {
	var apiVersion, kind, encoding []byte
	raws := 0
	err := fields(envelope, func(num uint64, typ int, value []byte) {
		switch {
		case num == 1 && typ == wireBytes: // typeMeta
			_ = fields(value, func(num uint64, typ int, value []byte) {
				if typ != wireBytes {
					return
				}
				switch num {
				case 1:
					apiVersion = value
				case 2:
					kind = value
				}
			})
		case num == 2 && typ == wireBytes:
			raw = value
			raws++
		case num == 3 && typ == wireBytes:
			encoding = value
		}
	})
	if err || raws != 1 || len(encoding) != 0 || string(apiVersion) != "v1" {
		return nil, nil, false
	}
	switch string(kind) {
	case "Pod":
		r = pod
	case "Node":
		r = node
	case "PodList":
		r = podList
	case "NodeList":
		r = nodeList
	}
	return r, raw, true
}

// trimmedSize is the length of msg's encoding once r has trimmed it, or
// false if msg does not parse.
func trimmedSize(msg []byte, r *rule) (int, bool) {
	size := 0
	ok := true
	bad := fields(msg, func(num uint64, typ int, value []byte) {
		if !r.keeps(num) {
			return
		}
		sub := r.sub(num)
		if sub == nil || typ != wireBytes {
			size += tagLen(num) + len(value) + headerLen(typ, value)
			return
		}
		n, subOK := trimmedSize(value, sub)
		ok = ok && subOK
		size += tagLen(num) + uvarintLen(uint64(n)) + n
	})
	return size, ok && !bad
}

// appendTrimmed appends msg, trimmed by r, to out. msg has been checked by
// trimmedSize.
func appendTrimmed(out, msg []byte, r *rule) []byte {
	_ = fields(msg, func(num uint64, typ int, value []byte) {
		if !r.keeps(num) {
			return
		}
		sub := r.sub(num)
		out = appendTag(out, num, typ)
		if sub == nil || typ != wireBytes {
			out = appendValue(out, typ, value)
			return
		}
		n, _ := trimmedSize(value, sub)
		out = binary.AppendUvarint(out, uint64(n))
		out = appendTrimmed(out, value, sub)
	})
	return out
}

func (r *rule) keeps(num uint64) bool {
	if r.only != nil {
		return contains(r.only, num)
	}
	return !contains(r.except, num)
}

func (r *rule) sub(num uint64) *rule {
	for _, n := range r.nested {
		if n.field == num {
			return n.rule
		}
	}
	return nil
}

func contains(list []uint64, num uint64) bool {
	for _, n := range list {
		if n == num {
			return true
		}
	}
	return false
}

// fields calls f with each field of msg: its number, wire type and value
// (for bytes fields the payload without its length, otherwise the encoded
// value). It reports true if msg does not parse; f may have been called
// for the fields before the fault.
func fields(msg []byte, f func(num uint64, typ int, value []byte)) (bad bool) {
	for len(msg) > 0 {
		num, typ, n := tag(msg)
		if n <= 0 || num == 0 {
			return true
		}
		msg = msg[n:]
		switch typ {
		case wireBytes:
			l, m := binary.Uvarint(msg)
			if m <= 0 || l > uint64(len(msg)-m) {
				return true
			}
			f(num, typ, msg[m:m+int(l)])
			msg = msg[m+int(l):]
		default:
			l := fieldLen(msg, typ)
			if l <= 0 || l > len(msg) {
				return true
			}
			f(num, typ, msg[:l])
			msg = msg[l:]
		}
	}
	return false
}

// tag reads a field's tag; n <= 0 if there is none.
func tag(b []byte) (num uint64, typ int, n int) {
	v, n := binary.Uvarint(b)
	return v >> 3, int(v & 7), n
}

// fieldLen is the length of the value at the start of b, of wire type typ,
// including a bytes field's length; 0 if it cannot be read (groups are
// not used by Kubernetes and are not read).
func fieldLen(b []byte, typ int) int {
	switch typ {
	case wireVarint:
		_, n := binary.Uvarint(b)
		return max(n, 0)
	case wireFixed64:
		return 8
	case wireFixed32:
		return 4
	case wireBytes:
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return 0
		}
		return n + int(l)
	}
	return 0
}

// headerLen is the length of what precedes a value of wire type typ: the
// length of a bytes field.
func headerLen(typ int, value []byte) int {
	if typ == wireBytes {
		return uvarintLen(uint64(len(value)))
	}
	return 0
}

func appendTag(out []byte, num uint64, typ int) []byte {
	return binary.AppendUvarint(out, num<<3|uint64(typ))
}

func appendValue(out []byte, typ int, value []byte) []byte {
	if typ == wireBytes {
		out = binary.AppendUvarint(out, uint64(len(value)))
	}
	return append(out, value...)
}

func tagLen(num uint64) int { return uvarintLen(num << 3) }

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
