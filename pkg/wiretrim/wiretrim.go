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
	r, ok := inspect(envelope)
	if !ok || r == nil {
		return data
	}
	// One pass: the trimmed object is never longer than the original.
	out := make([]byte, 0, len(data))
	out = append(out, prefix...)
	// Every field of the envelope but raw is copied as it is.
	for rest := envelope; len(rest) > 0; {
		num, typ, value, n := field(rest)
		if num == 2 && typ == wireBytes {
			var ok bool
			if out, ok = appendNested(out, num, value, r); !ok {
				return data
			}
		} else {
			out = append(out, rest[:n]...)
		}
		rest = rest[n:]
	}
	return out
}

// inspect reads the envelope's type and picks the rule for it (nil if the
// type is not trimmed). It reports false if the envelope is not well
// formed, holds more than one raw object, or an encoded one.
func inspect(envelope []byte) (r *rule, ok bool) {
	var apiVersion, kind []byte
	raws := 0
	for rest := envelope; len(rest) > 0; {
		num, typ, value, n := field(rest)
		if n <= 0 {
			return nil, false
		}
		rest = rest[n:]
		switch {
		case typ != wireBytes:
		case num == 1: // typeMeta
			for tm := value; len(tm) > 0; {
				num, typ, value, n := field(tm)
				if n <= 0 {
					return nil, false
				}
				tm = tm[n:]
				switch {
				case typ == wireBytes && num == 1:
					apiVersion = value
				case typ == wireBytes && num == 2:
					kind = value
				}
			}
		case num == 2: // raw
			raws++
		case num == 3 && len(value) > 0: // contentEncoding
			return nil, false
		}
	}
	if raws != 1 || string(apiVersion) != "v1" {
		return nil, false
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
	return r, true
}

// appendTrimmed appends msg, trimmed by r, to out, or reports false if msg
// does not parse. Kept fields are copied byte for byte.
func appendTrimmed(out, msg []byte, r *rule) ([]byte, bool) {
	for len(msg) > 0 {
		num, typ, value, n := field(msg)
		if n <= 0 {
			return out, false
		}
		whole := msg[:n]
		msg = msg[n:]
		switch sub := r.sub(num); {
		case !r.keeps(num):
		case sub != nil && typ == wireBytes:
			var ok bool
			if out, ok = appendNested(out, num, value, sub); !ok {
				return out, false
			}
		default:
			out = append(out, whole...)
		}
	}
	return out, true
}

// appendNested appends field num, the message msg trimmed by r. Its
// length is not known until msg is trimmed: room is left for the
// untrimmed one, never shorter, and the trimmed message moved up if its
// length takes fewer bytes.
func appendNested(out []byte, num uint64, msg []byte, r *rule) ([]byte, bool) {
	out = binary.AppendUvarint(out, num<<3|wireBytes)
	room := uvarintLen(uint64(len(msg)))
	at := len(out)
	out = append(out, make([]byte, room)...)
	out, ok := appendTrimmed(out, msg, r)
	if !ok {
		return out, false
	}
	size := len(out) - at - room
	if l := uvarintLen(uint64(size)); l < room {
		copy(out[at+l:], out[at+room:])
		out = out[:len(out)-(room-l)]
	}
	binary.PutUvarint(out[at:], uint64(size))
	return out, true
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

// field reads the field at the start of msg: its number and wire type,
// its value (for a bytes field the payload without its length, otherwise
// the encoded value) and the field's whole length; n <= 0 if it does not
// parse. Groups, which Kubernetes does not use, do not parse.
func field(msg []byte) (num uint64, typ int, value []byte, n int) {
	v, t := binary.Uvarint(msg)
	num, typ = v>>3, int(v&7)
	if t <= 0 || num == 0 {
		return 0, 0, nil, 0
	}
	rest := msg[t:]
	switch typ {
	case wireVarint:
		_, l := binary.Uvarint(rest)
		if l <= 0 {
			return 0, 0, nil, 0
		}
		return num, typ, rest[:l], t + l
	case wireFixed64, wireFixed32:
		l := 8
		if typ == wireFixed32 {
			l = 4
		}
		if len(rest) < l {
			return 0, 0, nil, 0
		}
		return num, typ, rest[:l], t + l
	case wireBytes:
		l, m := binary.Uvarint(rest)
		if m <= 0 || l > uint64(len(rest)-m) {
			return 0, 0, nil, 0
		}
		return num, typ, rest[m : m+int(l)], t + m + int(l)
	}
	return 0, 0, nil, 0
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
