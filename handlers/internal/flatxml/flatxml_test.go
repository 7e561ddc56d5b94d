package flatxml

import (
	"encoding/xml"
	"errors"
	"reflect"
	"testing"
)

func scanAll(doc string) (map[string]string, error) {
	got := map[string]string{}
	err := Scan([]byte(doc), func(name, value []byte) { got[string(name)] = string(value) })
	return got, err
}

func TestScan(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want map[string]string
	}{
		{"cdata and numbers", "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><CreateTime>1348831860</CreateTime><Content><![CDATA[你好 <b>]]></Content></xml>",
			map[string]string{"ToUserName": "gh_1", "CreateTime": "1348831860", "Content": "你好 <b>"}},
		{"newlines and indentation", "<?xml version=\"1.0\"?>\n<xml>\n\t<A><![CDATA[a]]></A>\n\t<B>2</B>\n</xml>\n", map[string]string{"A": "a", "B": "2"}},
		{"entities", "<xml><C>a &lt;&amp;&gt; &#20320;&#x597D;</C></xml>", map[string]string{"C": "a <&> 你好"}},
		{"split cdata", "<xml><C><![CDATA[a]]]]><![CDATA[>b]]></C></xml>", map[string]string{"C": "a]]>b"}},
		{"empty values", "<xml><E></E><F><![CDATA[]]></F></xml>", map[string]string{"E": "", "F": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scanAll(tc.doc)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Scan = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestScanNotFlat(t *testing.T) {
	for _, doc := range []string{
		"<xml><MemChangeList><Item>a</Item></MemChangeList></xml>",
		"<xml><A x=\"1\">v</A></xml>",
		"<xml><!-- c --><A>v</A></xml>",
		"<xml><A>v</B></xml>",
		"<xml><A>v</A>",
		"<xml><A><![CDATA[v</A></xml>",
		"<xml><A>&bogus;</A></xml>",
		"not xml",
		"",
	} {
		if _, err := scanAll(doc); !errors.Is(err, ErrNotFlat) {
			t.Errorf("Scan(%q) = %v, want ErrNotFlat", doc, err)
		}
	}
}

// FuzzScan checks that whatever Scan accepts, encoding/xml reads the same.
func FuzzScan(f *testing.F) {
	f.Add("<xml><A><![CDATA[x]]></A><B>1 &amp; 2</B></xml>")
	f.Add("<xml>\n<A>&#x4F60;</A></xml>")
	f.Fuzz(func(t *testing.T, doc string) {
		got, err := scanAll(doc)
		if err != nil {
			return
		}
		var v struct {
			Items []struct {
				XMLName xml.Name
				Value   string `xml:",chardata"`
			} `xml:",any"`
		}
		if xerr := xml.Unmarshal([]byte(doc), &v); xerr != nil {
			t.Fatalf("Scan accepted %q but encoding/xml says %v", doc, xerr)
		}
		for _, it := range v.Items {
			if got[it.XMLName.Local] != it.Value {
				t.Fatalf("%q: Scan %s=%q, encoding/xml %q", doc, it.XMLName.Local, got[it.XMLName.Local], it.Value)
			}
		}
	})
}
