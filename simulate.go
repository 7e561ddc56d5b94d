package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/siyu-bot/siyu/handlers/wechat"
)

// simulate plays WeChat: it signs and encrypts a callback with the running
// server's credentials (the same environment), posts it and prints the
// decrypted reply.
func simulate(ctx context.Context, env runEnv) error {
	cfg, err := loadConfig(env.getenv)
	if err != nil {
		return err
	}
	fl := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fl.SetOutput(env.stderr)
	addr := cfg.Addr
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	url := fl.String("url", "http://"+addr+"/wechat/callback", "the callback URL of the running siyu")
	event := fl.String("event", "", "send an event instead of text: subscribe, unsubscribe, SCAN or CLICK")
	key := fl.String("key", "", "the event's EventKey: a QR scene (qrscene_store-01) or a menu key")
	from := fl.String("from", "o-simulate-0001", "the follower's openid")
	plain := fl.Bool("plain", false, "plain mode: sign but do not encrypt")
	if err := fl.Parse(env.args[1:]); err != nil {
		return err
	}
	text := strings.Join(fl.Args(), " ")
	if text == "" && *event == "" {
		return fmt.Errorf("simulate: give the text to send, or --event subscribe")
	}
	sim := &wechat.Simulator{
		URL: *url, Token: cfg.WeChatToken, EncodingAESKey: cfg.WeChatAESKey, AppID: cfg.WeChatAppID,
		OriginalID: demoOrigID, Client: &http.Client{Timeout: 10 * time.Second},
	}
	if *plain {
		sim.EncodingAESKey = ""
	}
	var msg []byte
	if *event != "" {
		msg = sim.EventXML(*from, *event, *key, time.Now().Unix())
	} else {
		msg = sim.TextXML(*from, text, wechat.NewMsgID())
	}
	r, err := sim.Post(ctx, msg)
	if err != nil {
		return err
	}
	if r.MsgType == "" {
		fmt.Fprintln(env.stdout, "(no reply: the server answered success)")
		return nil
	}
	fmt.Fprintln(env.stdout, r.Content)
	return nil
}
