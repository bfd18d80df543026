package mailin

import (
	"os"
	"strings"
	"testing"
)

// HTML replies as the clients write them, converted and stripped the way
// intake does: only the new text stays.
func TestHTMLRepliesKeepOnlyNewText(t *testing.T) {
	cases := []struct {
		file       string
		want       []string
		wantAbsent []string
	}{
		{"outlook-desktop.html", []string{"Thanks, the trackpad works again.", "Greg"}, []string{"From:", "Sent:", "We received"}},
		{"outlook-web.html", []string{"Bonjour, c'est réparé, merci !"}, []string{"De :", "Envoyé", "Nous avons"}},
		{"gmail.html", []string{"It is still broken after the update.", "this screenshot (https://example.com/screenshot.png)", "mail it@example.com."},
			[]string{"wrote:", "We received", "(it@example.com)"}},
		{"apple-mail.html", []string{"Danke, das hat geholfen.", "Noch eine Frage: gilt das auch für das Dock?"}, []string{"schrieb", "Wir haben"}},
		{"apple-mail-attribution-outside.html", []string{"Thanks!"}, []string{"wrote:", "We received"}},
		{"thunderbird.html", []string{"Bottom-posted: it works now."}, []string{"wrote:", "We received", "Greg, Example Corp"}},
		{"hidden-command.html", []string{"Thanks for the update.", "Order | 4711", "Status | paid"}, []string{"/close", "/assign", "/priority"}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			b, err := os.ReadFile("testdata/html/" + c.file)
			if err != nil {
				t.Fatal(err)
			}
			got := StripQuotes(HTMLToText(string(b)))
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
			for _, w := range c.wantAbsent {
				if strings.Contains(got, w) {
					t.Errorf("kept %q in:\n%s", w, got)
				}
			}
		})
	}
}

// Plain-text replies per client and language.
func TestStripQuotes(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"english top-post", "Thanks, that fixed it.\n\nOn Mon, 2 Mar 2026 at 09:00, Support <support@x> wrote:\n> old text\n", "Thanks, that fixed it."},
		{"original message", "New text\n\n-----Original Message-----\nFrom: x\n", "New text"},
		{"outlook block", "Answer\n\nFrom: Support <s@x>\nSent: Monday\nTo: me\nSubject: hi\n\nold", "Answer"},
		{"outlook block with blank lines", "Answer\n\nFrom: Support <s@x>\n\nSent: Monday\n\nTo: me\n\nSubject: [#1] x\n\nold", "Answer"},
		{"outlook block, bold asterisks", "Answer\n\n*From:* Support <s@x>\n*Sent:* Monday\n*To:* me\n\nold", "Answer"},
		{"outlook block, date first", "Answer\n\nDate: Mon, 2 Mar 2026\nFrom: Support <s@x>\nSubject: hi\nTo: me\n\nold", "Answer"},
		{"our marker", "/close\nDone.\n-- Reply above this line to answer --\nold", "/close\nDone."},
		{"all quoted is kept", "> all quoted\n> nothing new\n", "> all quoted\n> nothing new"},
		{"german", "Danke!\n\nAm 02.03.2026 um 09:00 schrieb Support <support@desk.test>:\n> Wir haben", "Danke!"},
		{"german outlook", "Danke\n\nVon: Support <s@x>\nGesendet: Montag, 2. März 2026 09:00\nAn: Greg\nBetreff: AW: [#1]\n\nalt", "Danke"},
		{"german separator", "Danke\n\n-----Ursprüngliche Nachricht-----\nVon: x", "Danke"},
		{"french", "Merci.\n\nLe lun. 2 mars 2026 à 09:00, Support <support@desk.test> a écrit :\n> Nous avons", "Merci."},
		{"french outlook", "Merci\n\nDe : Support <s@x>\nEnvoyé : lundi 2 mars 2026 09:00\nÀ : Jeanne\nObjet : RE: [#2]\n\nancien", "Merci"},
		{"spanish", "Gracias.\n\nEl lun, 2 mar 2026 a las 9:00, Support (<support@desk.test>) escribió:\n> Hemos recibido", "Gracias."},
		{"spanish outlook", "Gracias\n\nDe: Support <s@x>\nEnviado: lunes, 2 de marzo de 2026 9:00\nPara: Ana\nAsunto: RE: [#3]\n\nviejo", "Gracias"},
		{"italian", "Grazie.\n\nIl giorno lun 2 mar 2026 alle ore 09:00 Support <support@desk.test> ha scritto:\n> Abbiamo", "Grazie."},
		{"italian outlook", "Grazie\n\nDa: Support <s@x>\nInviato: lunedì 2 marzo 2026 09:00\nA: Luca\nOggetto: R: [#4]\n\nvecchio", "Grazie"},
		{"dutch", "Bedankt.\n\nOp ma 2 mrt 2026 om 09:00 schreef Support <support@desk.test>:\n> We hebben", "Bedankt."},
		{"dutch outlook", "Bedankt\n\nVan: Support <s@x>\nVerzonden: maandag 2 maart 2026 09:00\nAan: Jan\nOnderwerp: RE: [#5]\n\noud", "Bedankt"},
		{"portuguese", "Obrigado.\n\nEm seg., 2 de mar. de 2026 às 09:00, Support <support@desk.test> escreveu:\n> Recebemos", "Obrigado."},
		{"swedish", "Tack.\n\nDen 2 mars 2026 09:00 skrev Support <support@desk.test>:\n> Vi har", "Tack."},
		{"swedish outlook", "Tack\n\nFrån: Support <s@x>\nSkickat: den 2 mars 2026 09:00\nTill: Eva\nÄmne: SV: [#6]\n\ngammalt", "Tack"},
		{"danish/norwegian", "Tak.\n\nman. 2. mar. 2026 kl. 09.00 skrev Support <support@desk.test>:\n> Vi har", "Tak."},
		{"finnish", "Kiitos.\n\nSupport <support@desk.test> kirjoitti 2.3.2026 klo 9.00:\n> Olemme", "Kiitos."},
		{"polish", "Dzięki.\n\nW dniu 2.03.2026 o 09:00, Support <support@desk.test> napisał(a):\n> Otrzymaliśmy", "Dzięki."},
		{"polish outlook", "Dzięki\n\nOd: Support <s@x>\nWysłano: poniedziałek, 2 marca 2026 09:00\nDo: Jan\nTemat: RE: [#7]\n\nstare", "Dzięki"},
		{"russian", "Спасибо.\n\n2 марта 2026 г., в 9:00, Support <support@desk.test> написал(а):\n> Мы получили", "Спасибо."},
		{"russian no verb", "Спасибо.\n\nПн, 2 мар. 2026 г. в 09:00, Support <support@desk.test>:\n> Мы получили", "Спасибо."},
		{"russian outlook", "Спасибо\n\nОт: Support <s@x>\nОтправлено: 2 марта 2026 г. 9:00\nКому: Иван\nТема: RE: [#8]\n\nстарое", "Спасибо"},
		{"ukrainian", "Дякую.\n\n02.03.2026 09:00, Support <support@desk.test> пише:\n> Ми отримали", "Дякую."},
		{"chinese", "谢谢。\n\nSupport <support@desk.test> 于2026年3月2日周一 09:00写道：\n> 我们已收到", "谢谢。"},
		{"chinese outlook", "谢谢\n\n发件人: Support <s@x>\n发送时间: 2026年3月2日 9:00\n收件人: 王\n主题: 回复: [#9]\n\n旧", "谢谢"},
		{"japanese gmail", "ありがとうございます。\n\n2026年3月2日(月) 9:00 Support <support@desk.test>:\n> 受け付けました", "ありがとうございます。"},
		{"japanese outlook", "ありがとう\n\n差出人: Support <s@x>\n送信日時: 2026年3月2日 9:00\n宛先: 田中\n件名: RE: [#10]\n\n古い", "ありがとう"},
		{"korean", "감사합니다.\n\n2026년 3월 2일 (월) 오전 9:00, Support <support@desk.test>님이 작성:\n> 접수되었습니다", "감사합니다."},
		{"gmail wrapped over two lines", "Works now.\n\nOn Mon, Mar 2, 2026 at 9:00 AM Example Support <\nsupport@desk.test> wrote:\n\n> We received", "Works now."},
		{"wrapped over three lines", "Works now.\n\nOn Monday, March 2, 2026 at 9:00:00 AM\nCoordinated Universal Time, Example Support\n<support@desk.test> wrote:\n> We received", "Works now."},
		{"bottom-posted", "On Mon, 2 Mar 2026, Support <support@desk.test> wrote:\n> Did the update help?\n\nYes, it did.\n", "Yes, it did."},
		{"inline reply", "On Mon, 2 Mar 2026, Support <support@desk.test> wrote:\n> Which model?\nA T480.\n> Which OS?\nDebian 12.\n", "A T480.\nDebian 12."},
		{"signature", "It works.\n\n-- \nGreg\nExample Corp, +1 555 0100\n", "It works."},
		{"iphone footer", "It works.\n\nSent from my iPhone\n", "It works."},
		{"german iphone footer", "Geht wieder.\n\nVon meinem iPhone gesendet\n", "Geht wieder."},
		{"outlook mobile footer", "Fine.\n\nGet Outlook for Android\n", "Fine."},
		{"sentence then attribution", "Thanks for the help.\nOn Mon, 2 Mar 2026, Support <s@x> wrote:\n> old", "Thanks for the help."},
		{"customer text with a colon", "Steps to reproduce:\n1. open lid\n2. nothing", "Steps to reproduce:\n1. open lid\n2. nothing"},
		{"customer mentions an address and a time", "Call me at 10:00 on <greg@example.com>:\nthanks", "Call me at 10:00 on <greg@example.com>:\nthanks"},
		{"underscores", "New\n\n________________________________\nFrom: x\nold", "New"},
		{"forwarded", "See below\n\n---------- Forwarded message ---------\nFrom: x", "See below"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := StripQuotes(c.in); got != c.want {
				t.Errorf("StripQuotes(%q)\n got %q\nwant %q", c.in, got, c.want)
			}
		})
	}
}

func TestStripQuotesKeepsGreetingBeforeAttribution(t *testing.T) {
	in := "Hi\nOn Mon, 2 Mar 2026, Support <s@x> wrote:\n> old"
	if got := StripQuotes(in); got != "Hi" {
		t.Errorf("got %q, want %q", got, "Hi")
	}
}
