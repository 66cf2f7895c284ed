package wiretrim

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Codecs returns ns with its protobuf decoder trimming pods and nodes
// before it decodes them: the pods and nodes a REST client built with it
// returns hold only what controller.Slim keeps.
func Codecs(ns runtime.NegotiatedSerializer) runtime.NegotiatedSerializer {
	infos := append([]runtime.SerializerInfo(nil), ns.SupportedMediaTypes()...)
	for i := range infos {
		// The stream serializer, which reads the watch events around the
		// objects, stays as it is: the objects inside an event are
		// decoded by Serializer.
		if infos[i].MediaType == runtime.ContentTypeProtobuf && infos[i].Serializer != nil {
			infos[i].Serializer = decoder{infos[i].Serializer}
		}
	}
	return codecs{ns, infos}
}

type codecs struct {
	runtime.NegotiatedSerializer
	infos []runtime.SerializerInfo
}

func (c codecs) SupportedMediaTypes() []runtime.SerializerInfo { return c.infos }

type decoder struct{ runtime.Serializer }

func (d decoder) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	return d.Serializer.Decode(Trim(data), defaults, into)
}
