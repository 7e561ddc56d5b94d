package bot_test

import (
	"errors"
	"fmt"
	"testing/fstest"

	"github.com/siyu-bot/siyu/bot"
)

func ExampleLoadScripts() {
	fsys := fstest.MapFS{
		"faq.yaml": &fstest.MapFile{Data: []byte(`
welcome:
  follow: "欢迎关注！回复「签到」每天领积分"
rules:
  - name: opening-hours
    match: {contains: ["营业时间", "几点开门"]}
    reply: "我们每天 9:00-21:00 营业"
    priority: 10
  - name: human
    match:
      contains: ["人工"]
      menu: [MENU_CONTACT]
    reply: "好的，客服同事会尽快联系你"
    priority: 100
fallback: "抱歉没听懂，回复「人工」联系客服"
`)},
	}
	s, err := bot.LoadScripts(fsys)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, text := range []string{"营业时间？", "营业时间不对，转人工！", "你好"} {
		if r, ok := s.Match(bot.WeChat, text); ok {
			fmt.Printf("%s → %s: %s\n", text, r.Name, r.Reply(nil))
		} else {
			fmt.Printf("%s → fallback: %s\n", text, s.FallbackReply(nil))
		}
	}
	r, _ := s.MatchMenu(bot.WeChat, "MENU_CONTACT")
	fmt.Println("MENU_CONTACT →", r.Name)
	// Output:
	// 营业时间？ → opening-hours: 我们每天 9:00-21:00 营业
	// 营业时间不对，转人工！ → human: 好的，客服同事会尽快联系你
	// 你好 → fallback: 抱歉没听懂，回复「人工」联系客服
	// MENU_CONTACT → human
}

func ExampleScriptErrors() {
	fsys := fstest.MapFS{
		"faq.yaml": &fstest.MapFile{Data: []byte(`
rules:
  - name: opening-hours
    match: {contians: ["营业时间"]}
    reply: "我们每天 9:00-21:00 营业"
  - name: order
    match: {regex: '^订单(\d+'}
    reply: ""
`)},
	}
	_, err := bot.LoadScripts(fsys)
	fmt.Println(errors.Is(err, bot.ErrInvalid))
	for _, e := range bot.ScriptErrors(err) {
		fmt.Println(e)
	}
	// Output:
	// true
	// faq.yaml:4: rule "opening-hours": match: unknown key "contians" (want exact, contains, regex, menu, intent or min_confidence)
	// faq.yaml:7: rule "order": match.regex: invalid pattern: error parsing regexp: missing closing ): `^订单(\d+`
	// faq.yaml:8: rule "order": reply: empty
}
