//! The words that give boilerplate away, in class names and in short lines of text.
//!
//! These are families, not instances: each alternative stands for a kind of page furniture that
//! many sites share (share bars, related-story lists, app promos, editor and source lines,
//! disclaimers, image credits), in English and Chinese.

use std::sync::LazyLock;

use regex::Regex;

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("static regex")
}

/// Class or id names that lower a container's score (Readability's negative list, widened).
pub static NEGATIVE_CLASS: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?x)
        -ad-|hidden|^hid$|\shid$|\shid\s|^hid\s|banner|combx|comment|com-|contact|(?-u:\b)foot|footer|footnote|gdpr
        |masthead|media|(?-u:\b)meta|outbrain|promo|related|scroll|share|shoutbox|sidebar|skyscraper|sponsor|shopping
        |(?-u:\b)tags?(?-u:\b)|(?-u:\b)tool|widget|taboola|recommend|social|(?-u:\b)nav(?-u:\b)|menu|breadcrumb|byline|author|copyright
    ")
});

/// Class or id names that raise a container's score.
pub static POSITIVE_CLASS: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?x)
        article|(?-u:\b)body|content|entry|hentry|h-entry|(?-u:\b)main|(?-u:\b)page(?-u:\b)|(?-u:\b)post|(?-u:\b)text|blog|story
        |zhengwen|artibody|(?-u:\b)cont(?-u:\b)|detail|(?-u:\b)cnt(?-u:\b)|(?-u:\b)con(?-u:\b)|(?-u:\b)txt
    ")
});

/// Class or id names of furniture subtrees, left out unless [`MAYBE_CONTENT`] also matches.
pub static UNLIKELY: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?x)
        -ad-|ai2html|banner|breadcrumb|combx|comment|community|cover-wrap|disqus|extra|footer|gdpr|header|legends
        |menu|related|remark|replies|rss|shoutbox|sidebar|skyscraper|social|sponsor|supplemental|ad-break|agegate
        |pagination|pager|popup|yom-remote|(?-u:\b)share|sharing|newsletter|subscri|cookie|consent|recommend|(?-u:\b)promo
        |outbrain|taboola|paywall|(?-u:\b)modal|qrcode|(?-u:\b)qr(?-u:\b)|appendqr|erweima|(?-u:\b)ewm(?-u:\b)|app-?download|copyright|disclaimer
        |(?-u:\b)tags?(?-u:\b)|tag-?list|trending|most-?popular|most-?read|read-?more|more-?stories|(?-u:\b)nav(?-u:\b)|navbar
    ")
});

/// Class or id names that keep an [`UNLIKELY`] subtree (Readability's "maybe a candidate").
pub static MAYBE_CONTENT: LazyLock<Regex> =
    LazyLock::new(|| re(r"article|(?-u:\b)body|column|content|(?-u:\b)main|shadow|story|(?-u:\b)text"));

/// Class or id names of furniture that is left out even inside content-named wrappers, when small.
pub static STRONG_UNLIKELY: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?x)
        comment|(?-u:\b)share|sharing|social|related|(?-u:\b)promo|sponsor|newsletter|subscri|recommend|outbrain|taboola
        |qrcode|(?-u:\b)qr(?-u:\b)|appendqr|erweima|byline|author|copyright|disclaimer|advert|(?-u:\b)ads?(?-u:\b)|caption|credit
        |img_descr|(?-u:\b)tags?(?-u:\b)|(?-u:\b)date(?-u:\b)|(?-u:\b)time(?-u:\b)|(?-u:\b)meta(?-u:\b)|post-meta|entry-meta|article-meta
        |(?-u:\b)cta(?-u:\b)|-cta-|call-to-action|donat|contribut|support-us|membership|rollover|tooltip|popover|hovercard
        |editsection|mw-jump|noprint
    ")
});

/// A short line that starts like page furniture: source, editor and credit lines, disclaimers.
pub static FURNITURE_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?xi)^[\s\(（【\[]*(?:
        责任编辑|责编|编辑|值班编辑|校对|审核|审校|监制|主编|出品|策划|制作|统筹|原标题|原文标题|文章来源|本文来源|来源
        |图片来源|图片来自|图源|图片|摄影|视频来源|免责声明|风险提示|版权声明|特别声明|声明|注：本文|本文为|本文系|本文经
        |编者按|主题|标题|相关阅读|相关新闻|相关报道|相关链接|延伸阅读|推荐阅读|更多精彩|热门推荐|标签|关键词|分享到|点击|扫码|扫描
        |editor|editing\s+by|edited\s+by|reporting\s+by|additional\s+reporting|writing\s+by|source|sources|credit|credits
        |photo|photos|image|images|picture|copyright|disclaimer|related|read\s+more|see\s+also|tags|topics
    )\s*[:：/|｜]")
});

/// A byline written as a line of its own (`作者：…`, `文/…`); only short lines, since
/// `记者：…` also opens the questions of an interview.
pub static BYLINE_PREFIX: LazyLock<Regex> =
    LazyLock::new(|| re(r"^[\s\(（【\[]*(?:记者|通讯员|作者|撰文|文|图|摄|摄影|实习生)\s*[:：/|｜]"));

/// A short line holding a date together with a source, author, update or view-count label:
/// the header line of many Chinese portals (`2005-02-06 13:26更新 来源：转载文章`).
pub static META_LINE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?xi)
        (?:\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}|\d{1,2}:\d{2}).*(?:来源|作者|编辑|更新|发布|浏览|阅读|点击|字号|评论|分享)
        |(?:来源|作者|编辑|更新|发布|浏览|阅读|点击|字号)[^。]*\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}
        |^(?:published|posted|updated|by)(?-u:\b).*(?-u:\b)(?:19|20)\d{2}(?-u:\b)
    ")
});

/// Short lines that are app promos, share prompts, related-story headers and the like.
pub static FURNITURE_LINE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?xi)
        扫码|扫描二维码|二维码|下载.{0,12}(?:app|客户端)|download\s+(?:our|the)\s+(?:\w+\s+)?app|get\s+(?:our|the)\s+(?:\w+\s+)?app|尽在.{0,16}(?:app|客户端)|打开.{0,12}(?:app|客户端)
        |关注.{0,16}(?:公众号|微信|微博|我们)|未经(?:授权|许可)|转载请|版权所有|返回.{0,6}首页|返回搜狐|查看更多|阅读全文|展开全文
        |阅览者|浏览次数|阅读次数|访问次数|点击次数|回复线索|停止回复|主题已经?关闭|发表回复|快速回复|楼主|沙发|返回列表|上一篇|下一篇
        |相关(?:新闻|阅读|报道|文章|链接|推荐)|延伸阅读|推荐阅读|猜你喜欢|热门推荐|进入专题|点击(?:进入|查看|下载|关注|播放)|分享到
        |^\s*(?:
            advertisement|advertising|sponsored(?:\s+content)?|ad(?-u:\b)|related(?:\s+(?:articles?|stories|content|coverage|posts?|reading))?
            |read\s+(?:more|next|also)|more\s+(?:from|on|stories)|see\s+also|recommended|you\s+(?:may|might)\s+also\s+like
            |share(?:\s+this)?|follow\s+us|sign\s+up|subscribe|click\s+here|continue\s+reading|(?:story|article)\s+continues
            |image\s+(?:copyright|source|caption|credit)|photo(?:graph)?\s*(?:by|credit)?\s*:|getty\s+images|copyright|©
            |all\s+rights\s+reserved|we\s+use\s+cookies|most\s+(?:popular|read)|trending|listen\s+to\s+this|watch\s*:
            |this\s+(?:article|story)\s+(?:was|has\s+been|is)\s+(?:originally|first|updated|published|republished)
            |(?:posted|published|updated|written)\s+(?:on|by|at)(?-u:\b)|by\s+[A-Z]
            |tags?\s*:|filed\s+under|topics?\s*:|loading|please\s+enable|comments?(?-u:\b)
        )
    ")
});

/// A line that carries only a date (and perhaps a time), in any common spelling.
pub static DATE_ONLY: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?xi)^[\s\W]*(?:
        (?:updated|published|posted|发布时间|发布于|时间|日期)?[:：\s]*
        (?:\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?|\w+\s+\d{1,2},?\s+\d{4}|\d{1,2}\s+\w+\s+\d{4})
        (?:\s*\d{1,2}[:：]\d{2}(?:[:：]\d{2})?\s*(?:am|pm|[a-z]{2,4})?)?
    )[\s\W]*$")
});

/// `责任编辑：吴剑 SF031` and English editor lines; group 1 is the name.
pub static EDITOR: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:责任编辑|责编|编辑)\s*[：:]\s*([^\s　【】\[\]（）()]{2,12})|(?i:(?-u:\b)(?:edited\s+by|editor\s*:))\s*([A-Z][\w.'’-]+(?:\s+[A-Z][\w.'’-]+){0,3})",
    )
});

/// A Chinese author or source line (`作者：…`, `来源：…`, `文/…`); group 1 is the name.
pub static AUTHOR_LINE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?:作者|撰文|文)\s*[：:/|｜]\s*([^\s　【】\[\]（）()|｜,，]{2,20})"));

/// Image addresses that are furniture: logos, icons, avatars, trackers, spacers, QR codes.
pub static FURNITURE_IMAGE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)logo|icon|avatar|sprite|pixel|track|spacer|blank\.|placeholder|loading|(?-u:\b)ads?(?-u:\b)|/ad/|banner|qr|erweima|ewm|weixin|wechat|badge|emoji|button|share|1x1|transparent",
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn furniture_lines_are_recognised() {
        for line in [
            "责任编辑：吴剑 SF031",
            "海量资讯、精准解读，尽在新浪财经APP",
            "原标题：某某事件最新进展",
            "免责声明：本文仅代表作者个人观点",
            "（图片来源：视觉中国）",
            "Advertisement",
            "Read more: how the vote went",
            "Image copyright Getty Images",
            "扫描二维码，关注我们",
        ] {
            assert!(FURNITURE_PREFIX.is_match(line) || FURNITURE_LINE.is_match(line), "{line}");
        }
        for line in
            ["河曲县大刀阔斧改革，将36个党政机构精简为22个。", "The council voted on Tuesday to approve the plan."]
        {
            assert!(!FURNITURE_PREFIX.is_match(line) && !FURNITURE_LINE.is_match(line), "{line}");
        }
    }

    #[test]
    fn editor_name_is_captured() {
        let c = EDITOR.captures("责任编辑：吴剑 SF031").unwrap();
        assert_eq!(c.get(1).unwrap().as_str(), "吴剑");
        let c = EDITOR.captures("Edited by Jane Doe.").unwrap();
        assert_eq!(c.get(2).unwrap().as_str(), "Jane Doe.");
    }

    #[test]
    fn date_only_lines_are_recognised() {
        for line in ["2022年08月02日 14:47", "Updated: March 3, 2021 10:15 am", "2022-08-02"] {
            assert!(DATE_ONLY.is_match(line), "{line}");
        }
        assert!(!DATE_ONLY.is_match("On 2022-08-02 the council met."));
    }
}
