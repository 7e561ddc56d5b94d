// Code generated from a traditional→simplified character list; edit the list, not this switch.

package risk

// simplified returns the simplified form of a traditional character
// common in chat, and reports whether r is one. A rune table (compiled to
// a binary search), not OpenCC: risk needs character folding only, and
// a lookup per rune keeps Scan within its budget. nlp.Canonical's
// traditional folding could replace it once merged.
func simplified(r rune) (rune, bool) {
	switch r {
	case '萬':
		return '万', true
	case '與':
		return '与', true
	case '醜':
		return '丑', true
	case '專':
		return '专', true
	case '業':
		return '业', true
	case '叢':
		return '丛', true
	case '東':
		return '东', true
	case '絲':
		return '丝', true
	case '兩':
		return '两', true
	case '嚴':
		return '严', true
	case '喪':
		return '丧', true
	case '個':
		return '个', true
	case '豐':
		return '丰', true
	case '臨':
		return '临', true
	case '為':
		return '为', true
	case '麗':
		return '丽', true
	case '舉':
		return '举', true
	case '麼':
		return '么', true
	case '義':
		return '义', true
	case '樂':
		return '乐', true
	case '喬':
		return '乔', true
	case '習':
		return '习', true
	case '鄉':
		return '乡', true
	case '買':
		return '买', true
	case '爭':
		return '争', true
	case '雲':
		return '云', true
	case '產':
		return '产', true
	case '畝':
		return '亩', true
	case '親':
		return '亲', true
	case '億':
		return '亿', true
	case '從':
		return '从', true
	case '儀':
		return '仪', true
	case '們':
		return '们', true
	case '價':
		return '价', true
	case '優':
		return '优', true
	case '夥':
		return '伙', true
	case '會':
		return '会', true
	case '偉':
		return '伟', true
	case '傳':
		return '传', true
	case '傷':
		return '伤', true
	case '體':
		return '体', true
	case '餘':
		return '余', true
	case '傭':
		return '佣', true
	case '侶':
		return '侣', true
	case '倆':
		return '俩', true
	case '債':
		return '债', true
	case '償':
		return '偿', true
	case '兒':
		return '儿', true
	case '黨':
		return '党', true
	case '蘭':
		return '兰', true
	case '關':
		return '关', true
	case '興':
		return '兴', true
	case '養':
		return '养', true
	case '內':
		return '内', true
	case '冊':
		return '册', true
	case '寫':
		return '写', true
	case '軍':
		return '军', true
	case '農':
		return '农', true
	case '沖':
		return '冲', true
	case '決':
		return '决', true
	case '況':
		return '况', true
	case '凍':
		return '冻', true
	case '淨':
		return '净', true
	case '準':
		return '准', true
	case '幾':
		return '几', true
	case '鳳':
		return '凤', true
	case '憑':
		return '凭', true
	case '擊':
		return '击', true
	case '劃':
		return '划', true
	case '製':
		return '制', true
	case '劑':
		return '剂', true
	case '劍':
		return '剑', true
	case '辦':
		return '办', true
	case '務':
		return '务', true
	case '動':
		return '动', true
	case '勵':
		return '励', true
	case '勞':
		return '劳', true
	case '勢':
		return '势', true
	case '區':
		return '区', true
	case '醫':
		return '医', true
	case '華':
		return '华', true
	case '協':
		return '协', true
	case '單':
		return '单', true
	case '賣':
		return '卖', true
	case '衛':
		return '卫', true
	case '廳':
		return '厅', true
	case '曆', '歷':
		return '历', true
	case '厲':
		return '厉', true
	case '壓':
		return '压', true
	case '廁':
		return '厕', true
	case '縣':
		return '县', true
	case '參':
		return '参', true
	case '雙':
		return '双', true
	case '發', '髮':
		return '发', true
	case '變':
		return '变', true
	case '隻':
		return '只', true
	case '臺', '颱':
		return '台', true
	case '葉':
		return '叶', true
	case '號':
		return '号', true
	case '後':
		return '后', true
	case '嚇':
		return '吓', true
	case '嗎':
		return '吗', true
	case '聽':
		return '听', true
	case '啓', '啟':
		return '启', true
	case '吳':
		return '吴', true
	case '嘔':
		return '呕', true
	case '員':
		return '员', true
	case '嗆':
		return '呛', true
	case '鹹':
		return '咸', true
	case '響':
		return '响', true
	case '餵':
		return '喂', true
	case '噴':
		return '喷', true
	case '囑':
		return '嘱', true
	case '團':
		return '团', true
	case '睏':
		return '困', true
	case '圍':
		return '围', true
	case '圖':
		return '图', true
	case '聖':
		return '圣', true
	case '場':
		return '场', true
	case '壞':
		return '坏', true
	case '塊':
		return '块', true
	case '堅':
		return '坚', true
	case '罈':
		return '坛', true
	case '墊':
		return '垫', true
	case '牆':
		return '墙', true
	case '壯':
		return '壮', true
	case '聲':
		return '声', true
	case '壺':
		return '壶', true
	case '處':
		return '处', true
	case '復', '複':
		return '复', true
	case '頭':
		return '头', true
	case '誇':
		return '夸', true
	case '奪':
		return '夺', true
	case '奮':
		return '奋', true
	case '獎':
		return '奖', true
	case '姦':
		return '奸', true
	case '婦':
		return '妇', true
	case '媽':
		return '妈', true
	case '孫':
		return '孙', true
	case '學':
		return '学', true
	case '寧':
		return '宁', true
	case '寶':
		return '宝', true
	case '實':
		return '实', true
	case '審':
		return '审', true
	case '憲':
		return '宪', true
	case '對':
		return '对', true
	case '尋':
		return '寻', true
	case '導':
		return '导', true
	case '將':
		return '将', true
	case '塵':
		return '尘', true
	case '嘗':
		return '尝', true
	case '屍':
		return '尸', true
	case '盡':
		return '尽', true
	case '層':
		return '层', true
	case '屆':
		return '届', true
	case '屬':
		return '属', true
	case '歲':
		return '岁', true
	case '島':
		return '岛', true
	case '巖':
		return '岩', true
	case '峽':
		return '峡', true
	case '鉅':
		return '巨', true
	case '幣':
		return '币', true
	case '師':
		return '师', true
	case '幫':
		return '帮', true
	case '幹':
		return '干', true
	case '廣':
		return '广', true
	case '莊':
		return '庄', true
	case '庫':
		return '库', true
	case '應':
		return '应', true
	case '廢':
		return '废', true
	case '開':
		return '开', true
	case '異':
		return '异', true
	case '棄':
		return '弃', true
	case '彎':
		return '弯', true
	case '彈':
		return '弹', true
	case '歸':
		return '归', true
	case '當':
		return '当', true
	case '錄':
		return '录', true
	case '徵':
		return '征', true
	case '徑':
		return '径', true
	case '誌':
		return '志', true
	case '懷':
		return '怀', true
	case '態':
		return '态', true
	case '總':
		return '总', true
	case '戀':
		return '恋', true
	case '驚':
		return '惊', true
	case '願':
		return '愿', true
	case '懶':
		return '懒', true
	case '戲':
		return '戏', true
	case '戰':
		return '战', true
	case '戶':
		return '户', true
	case '紮':
		return '扎', true
	case '託':
		return '托', true
	case '執':
		return '执', true
	case '擴':
		return '扩', true
	case '掃':
		return '扫', true
	case '揚':
		return '扬', true
	case '拋':
		return '抛', true
	case '搶':
		return '抢', true
	case '護':
		return '护', true
	case '報':
		return '报', true
	case '擔':
		return '担', true
	case '擁':
		return '拥', true
	case '撥':
		return '拨', true
	case '擇':
		return '择', true
	case '掛':
		return '挂', true
	case '挾':
		return '挟', true
	case '擋':
		return '挡', true
	case '擠':
		return '挤', true
	case '損':
		return '损', true
	case '換':
		return '换', true
	case '據':
		return '据', true
	case '攜':
		return '携', true
	case '攝':
		return '摄', true
	case '搖':
		return '摇', true
	case '敵':
		return '敌', true
	case '斂':
		return '敛', true
	case '數':
		return '数', true
	case '鬥':
		return '斗', true
	case '斷':
		return '断', true
	case '舊':
		return '旧', true
	case '時':
		return '时', true
	case '晝':
		return '昼', true
	case '顯':
		return '显', true
	case '晉':
		return '晋', true
	case '曉':
		return '晓', true
	case '暈':
		return '晕', true
	case '暫':
		return '暂', true
	case '術':
		return '术', true
	case '機':
		return '机', true
	case '殺':
		return '杀', true
	case '雜':
		return '杂', true
	case '權':
		return '权', true
	case '條':
		return '条', true
	case '來':
		return '来', true
	case '楊':
		return '杨', true
	case '鬆':
		return '松', true
	case '闆':
		return '板', true
	case '極':
		return '极', true
	case '槍':
		return '枪', true
	case '櫃':
		return '柜', true
	case '標':
		return '标', true
	case '棟':
		return '栋', true
	case '樣':
		return '样', true
	case '檔':
		return '档', true
	case '橋':
		return '桥', true
	case '夢':
		return '梦', true
	case '檢':
		return '检', true
	case '樓':
		return '楼', true
	case '歡':
		return '欢', true
	case '歐':
		return '欧', true
	case '殘':
		return '残', true
	case '毀':
		return '毁', true
	case '氣':
		return '气', true
	case '氫':
		return '氢', true
	case '匯', '彙':
		return '汇', true
	case '漢':
		return '汉', true
	case '溝':
		return '沟', true
	case '沒':
		return '没', true
	case '註':
		return '注', true
	case '淚':
		return '泪', true
	case '潔':
		return '洁', true
	case '濃':
		return '浓', true
	case '漁':
		return '渔', true
	case '灣':
		return '湾', true
	case '濕':
		return '湿', true
	case '滾':
		return '滚', true
	case '滿':
		return '满', true
	case '潛':
		return '潜', true
	case '滅':
		return '灭', true
	case '燈':
		return '灯', true
	case '靈':
		return '灵', true
	case '災':
		return '灾', true
	case '爐':
		return '炉', true
	case '點':
		return '点', true
	case '燒':
		return '烧', true
	case '愛':
		return '爱', true
	case '爺':
		return '爷', true
	case '犧':
		return '牺', true
	case '狀':
		return '状', true
	case '猶':
		return '犹', true
	case '獨':
		return '独', true
	case '獄':
		return '狱', true
	case '豬':
		return '猪', true
	case '現':
		return '现', true
	case '璽':
		return '玺', true
	case '瓊':
		return '琼', true
	case '電':
		return '电', true
	case '畫':
		return '画', true
	case '療':
		return '疗', true
	case '瘋':
		return '疯', true
	case '癢':
		return '痒', true
	case '癡':
		return '痴', true
	case '皺':
		return '皱', true
	case '鹽':
		return '盐', true
	case '監':
		return '监', true
	case '盜':
		return '盗', true
	case '盤':
		return '盘', true
	case '著':
		return '着', true
	case '矯':
		return '矫', true
	case '碼':
		return '码', true
	case '確':
		return '确', true
	case '礙':
		return '碍', true
	case '禮':
		return '礼', true
	case '禍':
		return '祸', true
	case '禪':
		return '禅', true
	case '離':
		return '离', true
	case '種':
		return '种', true
	case '祕':
		return '秘', true
	case '稱':
		return '称', true
	case '稅':
		return '税', true
	case '穩':
		return '稳', true
	case '窮':
		return '穷', true
	case '竊':
		return '窃', true
	case '窩':
		return '窝', true
	case '競':
		return '竞', true
	case '筍':
		return '笋', true
	case '筆':
		return '笔', true
	case '築':
		return '筑', true
	case '簽', '籤':
		return '签', true
	case '簡':
		return '简', true
	case '籃':
		return '篮', true
	case '類':
		return '类', true
	case '粵':
		return '粤', true
	case '糧':
		return '粮', true
	case '係', '繫':
		return '系', true
	case '緊':
		return '紧', true
	case '糾':
		return '纠', true
	case '紅':
		return '红', true
	case '約':
		return '约', true
	case '級':
		return '级', true
	case '紀':
		return '纪', true
	case '純':
		return '纯', true
	case '納':
		return '纳', true
	case '紛':
		return '纷', true
	case '紙':
		return '纸', true
	case '紐':
		return '纽', true
	case '線':
		return '线', true
	case '練':
		return '练', true
	case '組':
		return '组', true
	case '細':
		return '细', true
	case '織':
		return '织', true
	case '終':
		return '终', true
	case '經':
		return '经', true
	case '結':
		return '结', true
	case '繪':
		return '绘', true
	case '給':
		return '给', true
	case '絡':
		return '络', true
	case '絕':
		return '绝', true
	case '統':
		return '统', true
	case '繼':
		return '继', true
	case '績':
		return '绩', true
	case '緒':
		return '绪', true
	case '續':
		return '续', true
	case '繩':
		return '绳', true
	case '維':
		return '维', true
	case '綠':
		return '绿', true
	case '緩':
		return '缓', true
	case '編':
		return '编', true
	case '緣':
		return '缘', true
	case '纏':
		return '缠', true
	case '縮':
		return '缩', true
	case '網':
		return '网', true
	case '羅':
		return '罗', true
	case '罰':
		return '罚', true
	case '罷':
		return '罢', true
	case '職':
		return '职', true
	case '聯':
		return '联', true
	case '肅':
		return '肃', true
	case '膚':
		return '肤', true
	case '骯':
		return '肮', true
	case '膽':
		return '胆', true
	case '勝':
		return '胜', true
	case '朧':
		return '胧', true
	case '髒':
		return '脏', true
	case '腦':
		return '脑', true
	case '臉':
		return '脸', true
	case '捨':
		return '舍', true
	case '艦':
		return '舰', true
	case '艙':
		return '舱', true
	case '藝':
		return '艺', true
	case '節':
		return '节', true
	case '蘇':
		return '苏', true
	case '蘋':
		return '苹', true
	case '範':
		return '范', true
	case '薦':
		return '荐', true
	case '藥':
		return '药', true
	case '獲':
		return '获', true
	case '螢':
		return '萤', true
	case '營':
		return '营', true
	case '薩':
		return '萨', true
	case '蔥':
		return '葱', true
	case '蔣':
		return '蒋', true
	case '蟲':
		return '虫', true
	case '雖':
		return '虽', true
	case '蝦':
		return '虾', true
	case '蠶':
		return '蚕', true
	case '蠟':
		return '蜡', true
	case '錶':
		return '表', true
	case '襪':
		return '袜', true
	case '裝':
		return '装', true
	case '見':
		return '见', true
	case '觀':
		return '观', true
	case '規':
		return '规', true
	case '視':
		return '视', true
	case '覽':
		return '览', true
	case '覺':
		return '觉', true
	case '譽':
		return '誉', true
	case '計':
		return '计', true
	case '訂':
		return '订', true
	case '認':
		return '认', true
	case '討':
		return '讨', true
	case '讓':
		return '让', true
	case '訓':
		return '训', true
	case '訊':
		return '讯', true
	case '記':
		return '记', true
	case '講':
		return '讲', true
	case '許':
		return '许', true
	case '論':
		return '论', true
	case '訟':
		return '讼', true
	case '設':
		return '设', true
	case '訪':
		return '访', true
	case '證':
		return '证', true
	case '詛':
		return '诅', true
	case '識':
		return '识', true
	case '詐':
		return '诈', true
	case '訴':
		return '诉', true
	case '診':
		return '诊', true
	case '詞':
		return '词', true
	case '試':
		return '试', true
	case '詩':
		return '诗', true
	case '誠':
		return '诚', true
	case '話':
		return '话', true
	case '詢':
		return '询', true
	case '該':
		return '该', true
	case '詳':
		return '详', true
	case '誤':
		return '误', true
	case '說':
		return '说', true
	case '請':
		return '请', true
	case '諸':
		return '诸', true
	case '讀':
		return '读', true
	case '課':
		return '课', true
	case '誰':
		return '谁', true
	case '調':
		return '调', true
	case '諒':
		return '谅', true
	case '談':
		return '谈', true
	case '謊':
		return '谎', true
	case '謝':
		return '谢', true
	case '譜':
		return '谱', true
	case '穀':
		return '谷', true
	case '負':
		return '负', true
	case '貢':
		return '贡', true
	case '財':
		return '财', true
	case '責':
		return '责', true
	case '敗':
		return '败', true
	case '帳', '賬':
		return '账', true
	case '貨':
		return '货', true
	case '質':
		return '质', true
	case '販':
		return '贩', true
	case '貪':
		return '贪', true
	case '貧':
		return '贫', true
	case '購':
		return '购', true
	case '賤':
		return '贱', true
	case '貼':
		return '贴', true
	case '貴':
		return '贵', true
	case '貸':
		return '贷', true
	case '費':
		return '费', true
	case '賀':
		return '贺', true
	case '賄':
		return '贿', true
	case '資':
		return '资', true
	case '賭':
		return '赌', true
	case '賞':
		return '赏', true
	case '賠':
		return '赔', true
	case '賴':
		return '赖', true
	case '賺':
		return '赚', true
	case '賽':
		return '赛', true
	case '讚', '贊':
		return '赞', true
	case '贈':
		return '赠', true
	case '贏':
		return '赢', true
	case '趙':
		return '赵', true
	case '趕':
		return '赶', true
	case '趨':
		return '趋', true
	case '躍':
		return '跃', true
	case '踐':
		return '践', true
	case '車':
		return '车', true
	case '轉':
		return '转', true
	case '輪':
		return '轮', true
	case '軟':
		return '软', true
	case '輕':
		return '轻', true
	case '載':
		return '载', true
	case '較':
		return '较', true
	case '輔':
		return '辅', true
	case '輸':
		return '输', true
	case '辭':
		return '辞', true
	case '辯':
		return '辩', true
	case '邊':
		return '边', true
	case '達':
		return '达', true
	case '過':
		return '过', true
	case '運':
		return '运', true
	case '還':
		return '还', true
	case '這':
		return '这', true
	case '進':
		return '进', true
	case '遠':
		return '远', true
	case '違':
		return '违', true
	case '連':
		return '连', true
	case '遲':
		return '迟', true
	case '跡':
		return '迹', true
	case '適':
		return '适', true
	case '選':
		return '选', true
	case '遞':
		return '递', true
	case '邏':
		return '逻', true
	case '遺':
		return '遗', true
	case '郵':
		return '邮', true
	case '鄰':
		return '邻', true
	case '鬱':
		return '郁', true
	case '醬':
		return '酱', true
	case '釀':
		return '酿', true
	case '採':
		return '采', true
	case '釋':
		return '释', true
	case '裏', '裡':
		return '里', true
	case '針':
		return '针', true
	case '釣':
		return '钓', true
	case '鈔':
		return '钞', true
	case '鐘':
		return '钟', true
	case '鋼':
		return '钢', true
	case '錢':
		return '钱', true
	case '鐵':
		return '铁', true
	case '鈴':
		return '铃', true
	case '鉛':
		return '铅', true
	case '銅':
		return '铜', true
	case '銀':
		return '银', true
	case '鋪':
		return '铺', true
	case '鏈':
		return '链', true
	case '銷':
		return '销', true
	case '鎖':
		return '锁', true
	case '鍋':
		return '锅', true
	case '錯':
		return '错', true
	case '鍵':
		return '键', true
	case '鏡':
		return '镜', true
	case '長':
		return '长', true
	case '門':
		return '门', true
	case '閃':
		return '闪', true
	case '閉':
		return '闭', true
	case '問':
		return '问', true
	case '閒':
		return '闲', true
	case '間':
		return '间', true
	case '鬧':
		return '闹', true
	case '聞':
		return '闻', true
	case '閣':
		return '阁', true
	case '閱':
		return '阅', true
	case '闊':
		return '阔', true
	case '隊':
		return '队', true
	case '陽':
		return '阳', true
	case '陰':
		return '阴', true
	case '陣':
		return '阵', true
	case '際':
		return '际', true
	case '陸':
		return '陆', true
	case '陳':
		return '陈', true
	case '險':
		return '险', true
	case '隨':
		return '随', true
	case '隱':
		return '隐', true
	case '難':
		return '难', true
	case '黴':
		return '霉', true
	case '靜':
		return '静', true
	case '麵':
		return '面', true
	case '韓':
		return '韩', true
	case '韻':
		return '韵', true
	case '頁':
		return '页', true
	case '頂':
		return '顶', true
	case '項':
		return '项', true
	case '順':
		return '顺', true
	case '顧':
		return '顾', true
	case '頓':
		return '顿', true
	case '頒':
		return '颁', true
	case '預':
		return '预', true
	case '領':
		return '领', true
	case '頸':
		return '颈', true
	case '頻':
		return '频', true
	case '顆':
		return '颗', true
	case '題':
		return '题', true
	case '顏':
		return '颜', true
	case '額':
		return '额', true
	case '風':
		return '风', true
	case '飄':
		return '飘', true
	case '飛':
		return '飞', true
	case '飯':
		return '饭', true
	case '飲':
		return '饮', true
	case '飽':
		return '饱', true
	case '餅':
		return '饼', true
	case '館':
		return '馆', true
	case '馬':
		return '马', true
	case '驅':
		return '驱', true
	case '罵':
		return '骂', true
	case '驗':
		return '验', true
	case '騎':
		return '骑', true
	case '騙':
		return '骗', true
	case '騷':
		return '骚', true
	case '魚':
		return '鱼', true
	case '魯':
		return '鲁', true
	case '鮮':
		return '鲜', true
	case '鯨':
		return '鲸', true
	case '鳥':
		return '鸟', true
	case '雞':
		return '鸡', true
	case '鴨':
		return '鸭', true
	case '鵝':
		return '鹅', true
	case '麥':
		return '麦', true
	case '黃':
		return '黄', true
	case '齊':
		return '齐', true
	case '齒':
		return '齿', true
	case '齡':
		return '龄', true
	case '龍':
		return '龙', true
	}
	return r, false
}
