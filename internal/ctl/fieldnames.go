package ctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// canonicalFieldNames rewrites the object keys of a JSON document to the
// spelling of the Go type's JSON field names when they differ only in case:
// calicoctl, like Calico's (which decodes with encoding/json), reads
// "ipipMode", "IPIPMode" and "ipIPMode" alike. Keys that match no field in any
// case are left for the strict decoder to report as unknown; map keys (labels,
// annotations) are data and never touched. Two keys naming the same field are
// an error, as Calico would silently keep one of them.
func canonicalFieldNames(data []byte, t reflect.Type) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	changed := false
	v, err := canonicalValue(v, t, "", &changed)
	if err != nil || !changed {
		return data, err
	}
	return json.Marshal(v)
}

var unmarshalerType = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()

func canonicalValue(v any, t reflect.Type, path string, changed *bool) (any, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	// Types that decode themselves (ports, protocols, durations, quantities)
	// read their own value, whatever it holds.
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return v, nil
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return v, nil
		}
		fields := jsonFields(t)
		out := make(map[string]any, len(m))
		given := map[string]string{} // canonical name -> key as written
		for k, val := range m {
			name, ft := k, reflect.Type(nil)
			if f, ok := fields[k]; ok {
				ft = f
			} else {
				for fn, f := range fields {
					if strings.EqualFold(fn, k) {
						name, ft = fn, f
						*changed = true
						break
					}
				}
			}
			if prev, dup := given[name]; dup {
				return nil, fmt.Errorf("%s given twice, as %q and %q", join(path, name), prev, k)
			}
			given[name] = k
			if ft != nil {
				var err error
				if val, err = canonicalValue(val, ft, join(path, name), changed); err != nil {
					return nil, err
				}
			}
			out[name] = val
		}
		return out, nil
	case reflect.Slice, reflect.Array:
		s, ok := v.([]any)
		if !ok {
			return v, nil
		}
		for i := range s {
			var err error
			if s[i], err = canonicalValue(s[i], t.Elem(), fmt.Sprintf("%s[%d]", path, i), changed); err != nil {
				return nil, err
			}
		}
		return s, nil
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return v, nil
		}
		for k, val := range m {
			var err error
			if m[k], err = canonicalValue(val, t.Elem(), join(path, k), changed); err != nil {
				return nil, err
			}
		}
		return m, nil
	}
	return v, nil
}

// jsonFields maps a struct's JSON field names to their types, with the
// fields of embedded structs without a name of their own promoted, as
// encoding/json does.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" && f.Anonymous {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for n, t := range jsonFields(ft) {
					if _, own := out[n]; !own {
						out[n] = t
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
