// The interface's languages: one catalogue of every user-visible text of the meeting page,
// the landing page and the error pages, in English and Russian (the reference scenario's two
// delegations), and the choice of language: the user's own, else the browser's, else English.
//
// Pages mark static text with data-i18n="id" (the element's text) and
// data-i18n-attr="aria-label:id;title:id" (attributes); their English stays in the HTML, so a
// page whose script fails still reads. Modules build text with t(id, params). A text with a
// count has plural forms, chosen by Intl.PluralRules (Russian has one, few and many).
//
// Nothing here runs at import time beyond reading the choice: the record player imports ui.js,
// which imports this module, and must stay as it is.

/** @typedef {string | Partial<Record<Intl.LDMLPluralRule, string>>} Message */

const en = {
  // Pages and brand
  'brand.home': 'Parley home',
  'landing.running': 'Parley is running',
  'landing.title': 'Secure video meetings, on your own server.',
  'landing.lede': 'Parley hosts meetings for talks that must stay private: one program, no accounts, nothing sent anywhere else. People join with a room link that carries an access token.',
  'landing.join': 'Join a meeting',
  'landing.joinOpen': 'Open a room link with a token,',
  'landing.joinMint': '. To mint one, run on the server:',
  'landing.encrypted': 'Encrypted',
  'landing.encryptedText': 'Media always travels over DTLS-SRTP.',
  'landing.rules': 'Your rules',
  'landing.rulesText': 'Tokens say who may speak, watch or moderate.',
  'landing.selfHosted': 'Self-hosted',
  'landing.selfHostedText': 'Contacts nothing on its own. Works offline.',
  'landing.foot': 'Parley · self-hosted video conferencing',
  'notFound.pageTitle': 'Page not found · Parley',
  'notFound.title': 'There is nothing at this address',
  'notFound.text': 'Check the link you were given. If it came from a meeting invitation, ask the organiser to send it again.',
  'notFound.home': 'Go to the home page',

  // Lobby
  'lobby.check': 'Camera and microphone check',
  'lobby.ready': 'Ready to join?',
  'lobby.meeting': 'Meeting',
  'lobby.meetingNamed': 'Meeting {room}',
  'lobby.name': 'Your name',
  'lobby.namePlaceholder': 'How others will see you',
  'lobby.nameError': 'Enter your name: the others see it next to your picture.',
  'lobby.joiningAs': 'Joining as {name}',
  'lobby.guest': 'guest',
  'lobby.subListen': 'Your link lets you watch and listen. Your camera and microphone stay off.',
  'lobby.subInterpreter': 'You join as an interpreter, with your microphone only. Check it before you go in.',
  'lobby.sub': 'Check your camera and microphone before you go in.',
  'lobby.join': 'Join now',
  'lobby.stillListen': 'You can still join to watch and listen.',
  'lobby.camOff': 'Camera is off',
  'lobby.listenOnly': 'Listening only',
  'lobby.micOnly': 'Microphone only',
  'lobby.camStarting': 'Camera is starting…',
  'lobby.noCamera': 'No camera',
  'lobby.fineprint': 'Media is encrypted in transit. Nothing is recorded unless the room says so.',
  'lobby.fineprintE2ee': 'Media is encrypted end to end with the meeting passphrase: the server forwards and records only ciphertext.',
  'devices.mic': 'Microphone',
  'devices.speaker': 'Speaker',
  'devices.camera': 'Camera',
  'devices.noMic': 'No microphone',
  'devices.noCamera': 'No camera',
  'devices.defaultSpeaker': 'Default speaker',
  'devices.micN': 'Microphone {n}',
  'devices.cameraN': 'Camera {n}',
  'devices.speakerN': 'Speaker {n}',
  'devices.rawMic': 'Microphone as is',
  'devices.rawMicHint': 'No noise suppression, echo cancellation or automatic gain: for a headset or a booth microphone',

  // Camera and microphone errors
  'media.blocked.camera': 'Access to your camera is blocked. Allow it in your browser\'s site settings, then reload.',
  'media.blocked.microphone': 'Access to your microphone is blocked. Allow it in your browser\'s site settings, then reload.',
  'media.blocked.both': 'Access to your camera and microphone is blocked. Allow it in your browser\'s site settings, then reload.',
  'media.notFound.camera': 'No camera was found.',
  'media.notFound.microphone': 'No microphone was found.',
  'media.notFound.both': 'No camera or microphone was found.',
  'media.busy.camera': 'Your camera is in use by another application.',
  'media.busy.microphone': 'Your microphone is in use by another application.',
  'media.busy.both': 'Your camera and microphone are in use by another application.',
  'media.failed.camera': 'Your camera could not be started.',
  'media.failed.microphone': 'Your microphone could not be started.',
  'media.failed.both': 'Your camera and microphone could not be started.',
  'media.insecure': 'This page cannot use a camera or microphone (it needs HTTPS or localhost).',

  // End-to-end encryption
  'e2ee.switch': 'End-to-end encryption',
  'e2ee.switchSub': 'With a passphrase everyone in the meeting shares',
  'e2ee.unsupported': 'This browser cannot encrypt media end to end.',
  'e2ee.passLabel': 'Meeting passphrase',
  'e2ee.fromLink': 'from your link',
  'e2ee.passPlaceholder': 'The passphrase you were given',
  'e2ee.show': 'Show passphrase',
  'e2ee.hide': 'Hide passphrase',
  'e2ee.hint': 'It never leaves this device. Everyone must use exactly the same one: with another, you cannot see or hear each other.',
  'e2ee.linkUnsupported': 'This link is for an end-to-end encrypted meeting, but this browser cannot encrypt media end to end. Use a current Chrome, Edge, Firefox or Safari.',
  'e2ee.cannotStart': 'This browser cannot encrypt media end to end ({error}). Use a current Chrome, Edge, Firefox or Safari.',
  'e2ee.failed': 'End-to-end encryption could not start: {error}. Nothing was sent.',
  'e2ee.noSigningKey': 'End-to-end encryption needs a signing key, and this browser has none: {problem}. Nothing was sent.',
  'e2ee.pill': 'End-to-end encrypted',
  'e2ee.popTitle': 'This meeting is end-to-end encrypted',
  'e2ee.popText': 'Your camera, microphone, screen and chat are encrypted in this browser, with a key of your own, before they leave it. Your browser sends that key only to the others in the meeting who know the passphrase, signed with your key. The server forwards, and records, only ciphertext it cannot decrypt.',
  'e2ee.popSame': 'Everyone must use the same passphrase. Whoever uses another sees and hears nothing of the others, and their tile says so.',
  'e2ee.cipher': 'Cipher',
  'e2ee.yourKey': 'Your key',
  'e2ee.renewed': { one: 'renewed {n} time', other: 'renewed {n} times' },
  'e2ee.popNote': 'Whenever someone leaves or is removed, everyone\'s key is renewed without them: they cannot decrypt what is said after that, even with the passphrase. To be sure no one stands between you, compare the key fingerprints in People with what the others read out. The list of participants is not end-to-end encrypted.',
  'e2ee.cantDecrypt': 'Can’t decrypt — different passphrase?',

  // Signing key problems (the record and end-to-end encryption)
  'key.noIdentity': 'the link has no identity to hold a key for',
  'key.insecure': 'the page is not in a secure context, so there is no WebCrypto',
  'key.noEd25519': 'its WebCrypto has no Ed25519',
  'key.failed': 'the signing key could not be made ({error})',

  // Joining, leaving, errors
  'call.joiningRoom': 'Joining {room}…',
  'call.joiningMeeting': 'Joining the meeting…',
  'call.leaving': 'Leaving… your browser is countersigning the record',
  'call.reconnecting': 'Connection lost. Reconnecting…',
  'call.unreachable': 'Parley could not reach the server. Check your connection and try again.',
  'call.receiveFailed': 'Receiving media failed: {error}',
  'call.someoneJoined': '{name} joined',
  'call.someoneLeft': '{name} left',
  'call.someoneRemoved': '{name} was removed',
  'call.someoneLost': '{name} lost connection',
  'call.removedBy': 'You were removed by {name}',
  'call.removedByModerator': 'You were removed by a moderator',
  'call.removedText': 'A moderator removed you from this meeting.',
  'call.publishFailed': 'Your camera and microphone could not be published: {error}',
  'call.serverError': 'The server reported an error ({code}).',
  'call.replacedTitle': 'You joined from somewhere else',
  'call.replacedText': 'This meeting is open in another tab or on another device. You can rejoin here.',
  'call.disconnectedTitle': 'You were disconnected',
  'call.closedReason': 'The server closed the connection: {reason}',
  'call.closed': 'The server closed the connection.',
  'call.closedBeforeJoin': 'The server closed the connection before you could join.',
  'call.lostTitle': 'Connection lost',
  'call.lostText': 'Parley could not reconnect to the server. Check your connection, then rejoin.',
  'call.cantJoin': 'Can’t join this meeting',
  'call.leftTitle': 'You left the meeting',
  'call.leftRoom': 'Room “{room}”',
  'call.countersigned': {
    one: 'Your browser countersigned {count} checkpoint of the meeting’s record.',
    other: 'Your browser countersigned {count} checkpoints of the meeting’s record.',
  },
  'call.youJoinedRoom': 'You joined {room}',
  'call.youJoined': 'You joined the meeting',
  'call.reconnected': 'Reconnected',
  'end.details': 'Details',
  'end.tryAgain': 'Try again',
  'end.rejoin': 'Rejoin',
  'end.home': 'Return to home screen',

  // What a failed join means
  'join.token_missing.title': 'This link is incomplete',
  'join.token_missing.text': 'It has no access token. Ask the organiser for the full meeting link.',
  'join.token_invalid.title': 'This link is not valid',
  'join.token_invalid.text': 'It may have been copied incompletely or changed. Ask the organiser for a new link.',
  'join.token_expired.title': 'This link has expired',
  'join.token_expired.text': 'Ask the organiser for a new link.',
  'join.token_revoked.title': 'This link was withdrawn',
  'join.token_revoked.text': 'Ask the organiser for a new link.',
  'join.wrong_room.title': 'This link is for another meeting',
  'join.wrong_room.text': 'Ask the organiser for the link to this meeting.',
  'join.forbidden.title': 'You are not allowed in',
  'join.forbidden.text': 'Your link does not let you join this meeting. Ask the organiser.',
  'join.e2ee_required.title': 'This meeting is end-to-end encrypted',
  'join.e2ee_required.text': 'Open your link again and join with end-to-end encryption on, using the meeting passphrase.',
  'join.room_full.title': 'This meeting is full',
  'join.room_full.text': 'Try again when someone leaves.',
  'join.server_full.title': 'The server is busy',
  'join.server_full.text': 'Try again in a minute.',
  'join.rate_limited.title': 'Too many attempts',
  'join.rate_limited.text': 'Wait a minute, then try again.',
  'join.shutting_down.title': 'The server is restarting',
  'join.shutting_down.text': 'Try again in a minute.',
  'join.duplicate_identity.title': 'You are already in this meeting',
  'join.duplicate_identity.text': 'Your link is in use in another tab or on another device. Leave there, then try again.',

  // The stage and its tiles
  'stage.label': 'Participants',
  'stage.alone': 'You’re the only one here',
  'stage.listening': { one: '{count} listening', other: '{count} listening' },
  'stage.listeningLabel': '{count} listening only: show participants',
  'stage.more': '+{count} more',
  'stage.audioUnlock': 'Turn on sound',
  'tile.micOff': 'Microphone off',
  'tile.yourScreen': 'Your screen',
  'tile.presenting': '{name} is presenting',
  'tile.you': '{name} (You)',
  'tile.reconnecting': '{label} · reconnecting…',

  // Toolbar
  'controls.label': 'Meeting controls',
  'controls.micOff': 'Turn off microphone',
  'controls.micOn': 'Turn on microphone',
  'controls.camOff': 'Turn off camera',
  'controls.camOn': 'Turn on camera',
  'controls.present': 'Present your screen',
  'controls.stopPresenting': 'Stop presenting',
  'controls.leave': 'Leave the meeting',
  'controls.record': 'Record this meeting',
  'controls.stopRecording': 'Stop recording',
  'controls.captions': 'Captions',
  'controls.language': 'Language',
  'controls.languageIs': 'Language: {language}',
  'controls.languageTitle': 'Language and interpretation',
  'controls.settings': 'Settings',
  'controls.settingsLabel': 'Settings: language, camera, microphone and speaker',
  'controls.more': 'More options',
  'controls.showPeople': 'Show participants',
  'controls.hidePeople': 'Hide participants',
  'controls.peopleCount': '{label}, {count} in the meeting',
  'controls.participants': 'Participants',
  'controls.showChat': 'Show chat',
  'controls.hideChat': 'Hide chat',
  'controls.unread': '{label}, {count} unread',
  'controls.chat': 'Chat',
  'controls.micError': 'Microphone: {error}',
  'controls.camError': 'Camera: {error}',
  'controls.screenFailed': 'Screen sharing could not start.',
  'controls.presentingToast': 'You are presenting to everyone',
  'controls.screenError': 'Your screen could not be shared: {error}',
  'controls.mutedMic': '{name} muted you',
  'controls.mutedCamera': '{name} muted you (camera)',
  'controls.mutedScreen': '{name} muted you (screen share)',
  'controls.aModerator': 'A moderator',
  'more.openRecord': 'Open the record',

  // Settings
  'settings.title': 'Settings',
  'settings.close': 'Close settings',
  'settings.language': 'Language',

  // Language and interpretation
  'lang.listenTo': 'Listen to',
  'lang.original': 'Original audio',
  'lang.originalLower': 'original audio',
  'lang.floor': 'floor',
  'lang.live': 'live',
  'lang.noInterpreter': 'no interpreter yet',
  'lang.duck': 'Original audio under interpretation',
  'lang.youInterpret': 'You interpret',
  'lang.notInterpreting': 'Not interpreting',
  'lang.into': 'Into {language}',

  // Captions
  'cc.title': 'Captions',
  'cc.show': 'Show captions',
  'cc.of': 'Captions of',
  'cc.whatYouHear': 'What you listen to',
  'cc.on': 'Captions: on',
  'cc.off': 'Captions: off',
  'cc.titleOn': 'Captions are on',
  'cc.titleE2ee': 'No captions: this meeting is end-to-end encrypted',
  'cc.hintOn': 'on',
  'cc.hintOff': 'off',
  'cc.hintUnavailable': 'not available',
  'cc.paused': 'Captions paused: the speech engine is not answering',
  'cc.pausedMenu': 'Captions paused: the speech engine is not answering. They come back when it does.',
  'cc.noteE2ee': 'This meeting is end-to-end encrypted: the server cannot hear it, so it cannot caption it.',
  'cc.noteOwnE2ee': 'Your own speech is encrypted end to end and is not captioned.',
  'cc.hintInterpreted': 'interpreted',
  'cc.hintTranslated': 'interpreter, or machine translation',
  'cc.machine': 'Machine translation',
  'cc.machineFrom': 'Machine translation from {language}: “{text}”',
  'cc.machineOf': 'Machine translation: “{text}”',
  'cc.you': 'You',

  // Side panel and chat
  'panel.chat': 'In-call messages',
  'panel.people': 'People',
  'panel.close': 'Close panel',
  'common.close': 'Close',
  'chat.log': 'Chat messages',
  'chat.message': 'Message',
  'chat.placeholder': 'Send a message to everyone',
  'chat.send': 'Send message',
  'chat.sendShort': 'Send',
  'chat.empty': 'Messages can be seen only by people in the meeting while they are here.',
  'chat.unknown': 'Unknown',
  'chat.you': 'You',
  'chat.noKey': 'An encrypted message this browser has no key for.',
  'chat.tooLong': { one: 'Messages can be at most {count} character.', other: 'Messages can be at most {count} characters.' },
  'chat.notReady': 'The message was not sent: end-to-end encryption is not ready.',
  'chat.tooLongSealed': 'This message is too long to send encrypted: please shorten it.',
  'toast.dismiss': 'Dismiss',
  'someone': 'Someone',

  // People
  'people.inMeeting': 'In the meeting ({count})',
  'people.outside': 'Watching from outside ({count})',
  'people.aToken': 'a token',
  'people.watches': '{watcher} watches {watched}',
  'people.endViewer': 'End {label}',
  'people.endViewerTitle': 'End this viewer and ban its token from the room',
  'people.viewer': 'Viewer',
  'people.watching': 'Watching {name} · since {time}',
  'people.moderator': 'Moderator',
  'people.presenting': 'Presenting',
  'people.cantDecrypt': 'Can’t decrypt',
  'people.keysSigned': 'Keys signed',
  'people.noKeys': 'No keys yet',
  'people.interpretingInto': 'Interpreting into {language}',
  'people.interpreter': 'Interpreter',
  'people.listener': 'Listener',
  'people.key': 'Key {fingerprint}',
  'people.keyTitle': 'The key this person signs the record with. Compare it with what they read out to you, and with parley verify.',
  'people.micOn': 'Microphone on',
  'people.micOff': 'Microphone off',
  'people.isMuted': '{name} is muted',
  'people.mute': 'Mute {name}',
  'people.youMuted': 'You muted {name}',
  'people.remove': 'Remove',
  'people.confirmRemove': 'Confirm removing {name}',
  'people.removeFrom': 'Remove {name} from the meeting',

  // The record
  'rec.pill': 'Recording',
  'rec.popTitle': 'This meeting is recorded',
  'rec.since': 'Since {time}',
  'rec.popText': 'Every event and every byte of recorded media go into a hash-chained record that the server signs as it grows.',
  'rec.popYou': ' Your browser countersigns it too, so it cannot be rewritten later without that showing.',
  'rec.countersignedLabel': 'Checkpoints you countersigned',
  'rec.fingerprint': 'Your key fingerprint',
  'rec.record': 'Record',
  'rec.e2ee': 'The meeting is end-to-end encrypted: the record holds only ciphertext. Your browser keeps the media keys that play it, and they leave it only if you save them.',
  'rec.copy': 'Copy my public key',
  'rec.receipt': 'Download my receipt',
  'rec.receiptTitle': 'The checkpoints your browser countersigned: keep it to prove later what you signed (parley verify --receipt)',
  'rec.mediaKeys': 'Save media keys',
  'rec.mediaKeysTitle': 'The media keys your browser held in this meeting: with them the record plays, and parley record decrypt --keys writes playable copies',
  'rec.publicKey': 'Your public key',
  'rec.open': 'Open the record',
  'rec.openTitle': 'The record player, in a new tab: playback, timeline, transcript and verification',
  'rec.confirmTitle': 'Stop recording?',
  'rec.confirmText': 'Stopping seals the record; it cannot be resumed into the same record. Recording again starts a new one.',
  'rec.keep': 'Keep recording',
  'rec.stop': 'Stop recording',
  'rec.beingRecorded': 'This meeting is being recorded',
  'rec.startedBy': 'Recording started by {name}',
  'rec.started': 'Recording started',
  'rec.stopped': 'Recording stopped. The record is sealed.',
  'rec.preparingKey': 'Your browser is still preparing its signing key.',
  'rec.noCountersign': 'Your browser does not countersign it: {problem}.',
  'rec.countersigned': {
    one: 'Your browser has countersigned {count} checkpoint; your key fingerprint: {fingerprint}',
    other: 'Your browser has countersigned {count} checkpoints; your key fingerprint: {fingerprint}',
  },
  'rec.pillTitle': 'This meeting is recorded. {detail}',
  'rec.copied': 'Copied',
  'rec.copiedToast': 'Your public key is on the clipboard',
  'rec.pressCtrlC': 'Press Ctrl+C to copy',
  'rec.noReceipt': 'Your browser has not countersigned this record yet',
  'rec.noMediaKeys': 'Your browser has kept no media keys for this record yet',
  'rec.mediaKeysSaved': 'Media keys saved. Whoever has this file can play the record: keep it as safe as the meeting.',
};

/** @typedef {keyof typeof en} MessageId */

/** @type {Record<MessageId, Message>} every text, or tsc fails: the Russian is complete */
const ru = {
  'brand.home': 'Parley: на главную',
  'landing.running': 'Parley работает',
  'landing.title': 'Защищённые видеовстречи на вашем собственном сервере.',
  'landing.lede': 'Parley проводит встречи для переговоров, которые должны остаться конфиденциальными: одна программа, никаких учётных записей, никакие данные не уходят на сторону. Участники входят по ссылке на комнату с токеном доступа.',
  'landing.join': 'Как присоединиться к встрече',
  'landing.joinOpen': 'Откройте ссылку на комнату с токеном:',
  'landing.joinMint': '. Чтобы выпустить токен, выполните на сервере:',
  'landing.encrypted': 'Шифрование',
  'landing.encryptedText': 'Медиа всегда передаются по DTLS-SRTP.',
  'landing.rules': 'Ваши правила',
  'landing.rulesText': 'Токены определяют, кто может говорить, смотреть или модерировать.',
  'landing.selfHosted': 'Свой сервер',
  'landing.selfHostedText': 'Сам ни к кому не обращается. Работает без интернета.',
  'landing.foot': 'Parley · видеоконференции на собственном сервере',
  'notFound.pageTitle': 'Страница не найдена · Parley',
  'notFound.title': 'По этому адресу ничего нет',
  'notFound.text': 'Проверьте полученную ссылку. Если она пришла в приглашении на встречу, попросите организатора отправить её ещё раз.',
  'notFound.home': 'На главную страницу',

  'lobby.check': 'Проверка камеры и микрофона',
  'lobby.ready': 'Готовы присоединиться?',
  'lobby.meeting': 'Встреча',
  'lobby.meetingNamed': 'Встреча {room}',
  'lobby.name': 'Ваше имя',
  'lobby.namePlaceholder': 'Так вас будут видеть другие',
  'lobby.nameError': 'Введите имя: другие участники увидят его рядом с вашим изображением.',
  'lobby.joiningAs': 'Вы входите как {name}',
  'lobby.guest': 'гость',
  'lobby.subListen': 'По вашей ссылке можно смотреть и слушать. Камера и микрофон останутся выключенными.',
  'lobby.subInterpreter': 'Вы входите как переводчик, только с микрофоном. Проверьте его перед входом.',
  'lobby.sub': 'Проверьте камеру и микрофон перед входом.',
  'lobby.join': 'Присоединиться',
  'lobby.stillListen': 'Вы всё равно можете войти, чтобы смотреть и слушать.',
  'lobby.camOff': 'Камера выключена',
  'lobby.listenOnly': 'Только просмотр и прослушивание',
  'lobby.micOnly': 'Только микрофон',
  'lobby.camStarting': 'Камера включается…',
  'lobby.noCamera': 'Нет камеры',
  'lobby.fineprint': 'Медиа шифруются при передаче. Запись ведётся, только если об этом объявлено во встрече.',
  'lobby.fineprintE2ee': 'Медиа защищены сквозным шифрованием с парольной фразой встречи: сервер пересылает и записывает только шифротекст.',
  'devices.mic': 'Микрофон',
  'devices.speaker': 'Динамик',
  'devices.camera': 'Камера',
  'devices.noMic': 'Нет микрофона',
  'devices.noCamera': 'Нет камеры',
  'devices.defaultSpeaker': 'Динамик по умолчанию',
  'devices.micN': 'Микрофон {n}',
  'devices.cameraN': 'Камера {n}',
  'devices.speakerN': 'Динамик {n}',
  'devices.rawMic': 'Микрофон без обработки',
  'devices.rawMicHint': 'Без шумоподавления, эхоподавления и автоусиления: для гарнитуры или микрофона в кабине переводчика',

  'media.blocked.camera': 'Доступ к камере заблокирован. Разрешите его в настройках сайта в браузере и перезагрузите страницу.',
  'media.blocked.microphone': 'Доступ к микрофону заблокирован. Разрешите его в настройках сайта в браузере и перезагрузите страницу.',
  'media.blocked.both': 'Доступ к камере и микрофону заблокирован. Разрешите его в настройках сайта в браузере и перезагрузите страницу.',
  'media.notFound.camera': 'Камера не найдена.',
  'media.notFound.microphone': 'Микрофон не найден.',
  'media.notFound.both': 'Камера и микрофон не найдены.',
  'media.busy.camera': 'Камера занята другим приложением.',
  'media.busy.microphone': 'Микрофон занят другим приложением.',
  'media.busy.both': 'Камера и микрофон заняты другим приложением.',
  'media.failed.camera': 'Не удалось включить камеру.',
  'media.failed.microphone': 'Не удалось включить микрофон.',
  'media.failed.both': 'Не удалось включить камеру и микрофон.',
  'media.insecure': 'Эта страница не может использовать камеру или микрофон (нужен HTTPS или localhost).',

  'e2ee.switch': 'Сквозное шифрование',
  'e2ee.switchSub': 'С общей парольной фразой для всех участников',
  'e2ee.unsupported': 'Этот браузер не поддерживает сквозное шифрование медиа.',
  'e2ee.passLabel': 'Парольная фраза встречи',
  'e2ee.fromLink': 'из вашей ссылки',
  'e2ee.passPlaceholder': 'Фраза, которую вам сообщили',
  'e2ee.show': 'Показать парольную фразу',
  'e2ee.hide': 'Скрыть парольную фразу',
  'e2ee.hint': 'Она не покидает это устройство. У всех участников фраза должна быть одна и та же: с разными фразами вы не увидите и не услышите друг друга.',
  'e2ee.linkUnsupported': 'Эта ссылка ведёт на встречу со сквозным шифрованием, но этот браузер не поддерживает сквозное шифрование медиа. Используйте актуальную версию Chrome, Edge, Firefox или Safari.',
  'e2ee.cannotStart': 'Этот браузер не поддерживает сквозное шифрование медиа ({error}). Используйте актуальную версию Chrome, Edge, Firefox или Safari.',
  'e2ee.failed': 'Не удалось включить сквозное шифрование: {error}. Ничего не отправлено.',
  'e2ee.noSigningKey': 'Для сквозного шифрования нужен ключ подписи, а у этого браузера его нет: {problem}. Ничего не отправлено.',
  'e2ee.pill': 'Сквозное шифрование',
  'e2ee.popTitle': 'Эта встреча защищена сквозным шифрованием',
  'e2ee.popText': 'Изображение с камеры, звук микрофона, экран и чат шифруются в этом браузере вашим собственным ключом ещё до отправки. Браузер передаёт этот ключ, подписанный вашим ключом подписи, только тем участникам встречи, кто знает парольную фразу. Сервер пересылает и записывает только шифротекст, который не может расшифровать.',
  'e2ee.popSame': 'Все участники должны использовать одну и ту же парольную фразу. Тот, кто ввёл другую, не видит и не слышит остальных, и в его окне об этом сообщается.',
  'e2ee.cipher': 'Шифр',
  'e2ee.yourKey': 'Ваш ключ',
  'e2ee.renewed': { one: 'обновлён {n} раз', few: 'обновлён {n} раза', many: 'обновлён {n} раз', other: 'обновлён {n} раза' },
  'e2ee.popNote': 'Когда кто-то выходит из встречи или его удаляют, ключи всех участников обновляются без него: расшифровать сказанное после этого он не сможет, даже зная парольную фразу. Чтобы убедиться, что между вами нет посредника, сравните отпечатки ключей в списке участников с теми, что зачитают остальные. Сам список участников сквозным шифрованием не защищён.',
  'e2ee.cantDecrypt': 'Не удаётся расшифровать. Другая парольная фраза?',

  'key.noIdentity': 'в ссылке нет идентификатора, для которого можно хранить ключ',
  'key.insecure': 'страница открыта не в защищённом контексте, поэтому WebCrypto недоступен',
  'key.noEd25519': 'его WebCrypto не поддерживает Ed25519',
  'key.failed': 'не удалось создать ключ подписи ({error})',

  'call.joiningRoom': 'Подключение к встрече {room}…',
  'call.joiningMeeting': 'Подключение к встрече…',
  'call.leaving': 'Выход… Браузер подписывает запись встречи',
  'call.reconnecting': 'Соединение потеряно. Переподключение…',
  'call.unreachable': 'Parley не удалось связаться с сервером. Проверьте подключение к сети и повторите попытку.',
  'call.receiveFailed': 'Не удалось получить медиапоток: {error}',
  'call.someoneJoined': '{name} присоединяется к встрече',
  'call.someoneLeft': '{name} покидает встречу',
  'call.someoneRemoved': 'Участник {name} удалён из встречи',
  'call.someoneLost': 'Участник {name} потерял соединение',
  'call.removedBy': 'Вас удалил из встречи модератор {name}',
  'call.removedByModerator': 'Вас удалил из встречи модератор',
  'call.removedText': 'Модератор удалил вас из этой встречи.',
  'call.publishFailed': 'Не удалось передать изображение и звук: {error}',
  'call.serverError': 'Сервер сообщил об ошибке ({code}).',
  'call.replacedTitle': 'Вы вошли с другого устройства',
  'call.replacedText': 'Эта встреча открыта в другой вкладке или на другом устройстве. Вы можете вернуться в неё здесь.',
  'call.disconnectedTitle': 'Вы отключены от встречи',
  'call.closedReason': 'Сервер закрыл соединение: {reason}',
  'call.closed': 'Сервер закрыл соединение.',
  'call.closedBeforeJoin': 'Сервер закрыл соединение до того, как вы успели войти.',
  'call.lostTitle': 'Соединение потеряно',
  'call.lostText': 'Parley не удалось снова подключиться к серверу. Проверьте подключение к сети и войдите снова.',
  'call.cantJoin': 'Не удаётся присоединиться к встрече',
  'call.leftTitle': 'Вы вышли из встречи',
  'call.leftRoom': 'Комната «{room}»',
  'call.countersigned': {
    one: 'Ваш браузер подписал {count} контрольную точку записи встречи.',
    few: 'Ваш браузер подписал {count} контрольные точки записи встречи.',
    many: 'Ваш браузер подписал {count} контрольных точек записи встречи.',
    other: 'Ваш браузер подписал {count} контрольной точки записи встречи.',
  },
  'call.youJoinedRoom': 'Вы присоединились к встрече {room}',
  'call.youJoined': 'Вы присоединились к встрече',
  'call.reconnected': 'Соединение восстановлено',
  'end.details': 'Подробности',
  'end.tryAgain': 'Повторить попытку',
  'end.rejoin': 'Вернуться на встречу',
  'end.home': 'Вернуться на главную',

  'join.token_missing.title': 'Ссылка неполная',
  'join.token_missing.text': 'В ней нет токена доступа. Попросите у организатора полную ссылку на встречу.',
  'join.token_invalid.title': 'Ссылка недействительна',
  'join.token_invalid.text': 'Возможно, её скопировали не полностью или изменили. Попросите у организатора новую ссылку.',
  'join.token_expired.title': 'Срок действия ссылки истёк',
  'join.token_expired.text': 'Попросите у организатора новую ссылку.',
  'join.token_revoked.title': 'Ссылка отозвана',
  'join.token_revoked.text': 'Попросите у организатора новую ссылку.',
  'join.wrong_room.title': 'Эта ссылка ведёт на другую встречу',
  'join.wrong_room.text': 'Попросите у организатора ссылку на эту встречу.',
  'join.forbidden.title': 'Вход запрещён',
  'join.forbidden.text': 'Ваша ссылка не даёт права войти в эту встречу. Обратитесь к организатору.',
  'join.e2ee_required.title': 'Эта встреча защищена сквозным шифрованием',
  'join.e2ee_required.text': 'Откройте свою ссылку ещё раз и войдите с включённым сквозным шифрованием, указав парольную фразу встречи.',
  'join.room_full.title': 'Встреча заполнена',
  'join.room_full.text': 'Попробуйте снова, когда кто-нибудь выйдет.',
  'join.server_full.title': 'Сервер перегружен',
  'join.server_full.text': 'Повторите попытку через минуту.',
  'join.rate_limited.title': 'Слишком много попыток',
  'join.rate_limited.text': 'Подождите минуту и повторите попытку.',
  'join.shutting_down.title': 'Сервер перезапускается',
  'join.shutting_down.text': 'Повторите попытку через минуту.',
  'join.duplicate_identity.title': 'Вы уже участвуете в этой встрече',
  'join.duplicate_identity.text': 'Ваша ссылка уже используется в другой вкладке или на другом устройстве. Выйдите из встречи там и повторите попытку.',

  'stage.label': 'Участники',
  'stage.alone': 'Кроме вас, здесь никого нет',
  'stage.listening': { one: '{count} слушатель', few: '{count} слушателя', many: '{count} слушателей', other: '{count} слушателя' },
  'stage.listeningLabel': 'Только слушают: {count}. Показать участников',
  'stage.more': 'Ещё {count}',
  'stage.audioUnlock': 'Включить звук',
  'tile.micOff': 'Микрофон выключен',
  'tile.yourScreen': 'Ваш экран',
  'tile.presenting': '{name} показывает экран',
  'tile.you': '{name} (вы)',
  'tile.reconnecting': '{label} · переподключение…',

  'controls.label': 'Управление встречей',
  'controls.micOff': 'Выключить микрофон',
  'controls.micOn': 'Включить микрофон',
  'controls.camOff': 'Выключить камеру',
  'controls.camOn': 'Включить камеру',
  'controls.present': 'Показать экран',
  'controls.stopPresenting': 'Остановить показ экрана',
  'controls.leave': 'Выйти из встречи',
  'controls.record': 'Записать встречу',
  'controls.stopRecording': 'Остановить запись',
  'controls.captions': 'Субтитры',
  'controls.language': 'Язык',
  'controls.languageIs': 'Язык: {language}',
  'controls.languageTitle': 'Язык и перевод',
  'controls.settings': 'Настройки',
  'controls.settingsLabel': 'Настройки: язык, камера, микрофон и динамик',
  'controls.more': 'Другие действия',
  'controls.showPeople': 'Показать участников',
  'controls.hidePeople': 'Скрыть участников',
  'controls.peopleCount': '{label}, участников: {count}',
  'controls.participants': 'Участники',
  'controls.showChat': 'Показать чат',
  'controls.hideChat': 'Скрыть чат',
  'controls.unread': '{label}, непрочитанных: {count}',
  'controls.chat': 'Чат',
  'controls.micError': 'Микрофон: {error}',
  'controls.camError': 'Камера: {error}',
  'controls.screenFailed': 'Не удалось начать показ экрана.',
  'controls.presentingToast': 'Ваш экран видят все участники',
  'controls.screenError': 'Не удалось показать экран: {error}',
  'controls.mutedMic': '{name} выключает ваш микрофон',
  'controls.mutedCamera': '{name} выключает вашу камеру',
  'controls.mutedScreen': '{name} останавливает показ вашего экрана',
  'controls.aModerator': 'Модератор',
  'more.openRecord': 'Открыть запись',

  'settings.title': 'Настройки',
  'settings.close': 'Закрыть настройки',
  'settings.language': 'Язык интерфейса',

  'lang.listenTo': 'Слушать',
  'lang.original': 'Исходный звук',
  'lang.originalLower': 'исходный звук',
  'lang.floor': 'из зала',
  'lang.live': 'в эфире',
  'lang.noInterpreter': 'нет переводчика',
  'lang.duck': 'Громкость оригинала при переводе',
  'lang.youInterpret': 'Вы переводите',
  'lang.notInterpreting': 'Не переводить',
  'lang.into': 'На {language}',

  'cc.title': 'Субтитры',
  'cc.show': 'Показывать субтитры',
  'cc.of': 'Источник субтитров',
  'cc.whatYouHear': 'То, что вы слушаете',
  'cc.on': 'Субтитры: вкл.',
  'cc.off': 'Субтитры: выкл.',
  'cc.titleOn': 'Субтитры включены',
  'cc.titleE2ee': 'Субтитров нет: встреча защищена сквозным шифрованием',
  'cc.hintOn': 'вкл.',
  'cc.hintOff': 'выкл.',
  'cc.hintUnavailable': 'недоступны',
  'cc.paused': 'Субтитры приостановлены: система распознавания речи не отвечает',
  'cc.pausedMenu': 'Субтитры приостановлены: система распознавания речи не отвечает. Они появятся снова, как только она заработает.',
  'cc.noteE2ee': 'Встреча защищена сквозным шифрованием: сервер её не слышит и поэтому не может создавать субтитры.',
  'cc.noteOwnE2ee': 'Ваша речь защищена сквозным шифрованием, и субтитры для неё не создаются.',
  'cc.hintInterpreted': 'перевод',
  'cc.hintTranslated': 'переводчик или машинный перевод',
  'cc.machine': 'Машинный перевод',
  'cc.machineFrom': 'Машинный перевод (исходный язык: {language}): «{text}»',
  'cc.machineOf': 'Машинный перевод: «{text}»',
  'cc.you': 'Вы',

  'panel.chat': 'Сообщения встречи',
  'panel.people': 'Участники',
  'panel.close': 'Закрыть панель',
  'common.close': 'Закрыть',
  'chat.log': 'Сообщения чата',
  'chat.message': 'Сообщение',
  'chat.placeholder': 'Сообщение для всех участников',
  'chat.send': 'Отправить сообщение',
  'chat.sendShort': 'Отправить',
  'chat.empty': 'Сообщения видны только участникам встречи и только пока они на ней.',
  'chat.unknown': 'Неизвестный участник',
  'chat.you': 'Вы',
  'chat.noKey': 'Зашифрованное сообщение, для которого у этого браузера нет ключа.',
  'chat.tooLong': {
    one: 'Сообщение может содержать не более {count} символа.',
    few: 'Сообщение может содержать не более {count} символов.',
    many: 'Сообщение может содержать не более {count} символов.',
    other: 'Сообщение может содержать не более {count} символа.',
  },
  'chat.notReady': 'Сообщение не отправлено: сквозное шифрование ещё не готово.',
  'chat.tooLongSealed': 'Сообщение слишком длинное для отправки в зашифрованном виде. Сократите его.',
  'toast.dismiss': 'Закрыть',
  'someone': 'Участник',

  'people.inMeeting': 'На встрече ({count})',
  'people.outside': 'Смотрят извне ({count})',
  'people.aToken': 'токен',
  'people.watches': '{watcher} смотрит: {watched}',
  'people.endViewer': 'Отключить: {label}',
  'people.endViewerTitle': 'Отключить этого зрителя и запретить его токену вход в комнату',
  'people.viewer': 'Зритель',
  'people.watching': 'Смотрит: {name} · с {time}',
  'people.moderator': 'Модератор',
  'people.presenting': 'Показывает экран',
  'people.cantDecrypt': 'Не удаётся расшифровать',
  'people.keysSigned': 'Ключи подписаны',
  'people.noKeys': 'Ключей пока нет',
  'people.interpretingInto': 'Переводит на {language}',
  'people.interpreter': 'Переводчик',
  'people.listener': 'Слушатель',
  'people.key': 'Ключ {fingerprint}',
  'people.keyTitle': 'Ключ, которым этот участник подписывает запись. Сравните его с тем, что участник вам зачитает, и с выводом parley verify.',
  'people.micOn': 'Микрофон включён',
  'people.micOff': 'Микрофон выключен',
  'people.isMuted': 'Микрофон участника {name} выключен',
  'people.mute': 'Выключить микрофон участника {name}',
  'people.youMuted': 'Вы выключили микрофон участника {name}',
  'people.remove': 'Удалить',
  'people.confirmRemove': 'Подтвердите удаление участника {name}',
  'people.removeFrom': 'Удалить участника {name} из встречи',

  'rec.pill': 'Запись',
  'rec.popTitle': 'Эта встреча записывается',
  'rec.since': 'С {time}',
  'rec.popText': 'Все события и все записанные медиаданные попадают в запись, связанную цепочкой хешей, которую сервер подписывает по мере её роста.',
  'rec.popYou': ' Ваш браузер тоже её подписывает, поэтому незаметно переписать её позже не получится.',
  'rec.countersignedLabel': 'Подписано вами контрольных точек',
  'rec.fingerprint': 'Отпечаток вашего ключа',
  'rec.record': 'Запись',
  'rec.e2ee': 'Встреча защищена сквозным шифрованием: в записи хранится только шифротекст. Ключи для её воспроизведения хранятся в вашем браузере и покидают его, только если вы их сохраните.',
  'rec.copy': 'Копировать мой открытый ключ',
  'rec.receipt': 'Скачать мою квитанцию',
  'rec.receiptTitle': 'Контрольные точки, подписанные вашим браузером. Сохраните квитанцию, чтобы потом доказать, что именно вы подписали (parley verify --receipt)',
  'rec.mediaKeys': 'Сохранить ключи медиа',
  'rec.mediaKeysTitle': 'Ключи медиа, которые ваш браузер использовал на этой встрече: с ними запись воспроизводится, а parley record decrypt --keys создаёт копии, которые можно воспроизвести',
  'rec.publicKey': 'Ваш открытый ключ',
  'rec.open': 'Открыть запись',
  'rec.openTitle': 'Проигрыватель записи в новой вкладке: воспроизведение, хронология, расшифровка и проверка',
  'rec.confirmTitle': 'Остановить запись?',
  'rec.confirmText': 'После остановки запись запечатывается, и продолжить её уже нельзя. Если снова начать запись, будет создана новая.',
  'rec.keep': 'Продолжить запись',
  'rec.stop': 'Остановить запись',
  'rec.beingRecorded': 'Эта встреча записывается',
  'rec.startedBy': 'Запись начата. Её включил участник {name}',
  'rec.started': 'Запись начата',
  'rec.stopped': 'Запись остановлена и запечатана.',
  'rec.preparingKey': 'Браузер ещё готовит ключ подписи.',
  'rec.noCountersign': 'Ваш браузер не подписывает запись: {problem}.',
  'rec.countersigned': {
    one: 'Ваш браузер подписал {count} контрольную точку; отпечаток вашего ключа: {fingerprint}',
    few: 'Ваш браузер подписал {count} контрольные точки; отпечаток вашего ключа: {fingerprint}',
    many: 'Ваш браузер подписал {count} контрольных точек; отпечаток вашего ключа: {fingerprint}',
    other: 'Ваш браузер подписал {count} контрольной точки; отпечаток вашего ключа: {fingerprint}',
  },
  'rec.pillTitle': 'Эта встреча записывается. {detail}',
  'rec.copied': 'Скопировано',
  'rec.copiedToast': 'Открытый ключ скопирован в буфер обмена',
  'rec.pressCtrlC': 'Нажмите Ctrl+C, чтобы скопировать',
  'rec.noReceipt': 'Ваш браузер ещё не подписал эту запись',
  'rec.noMediaKeys': 'Ваш браузер пока не сохранил ключи медиа для этой записи',
  'rec.mediaKeysSaved': 'Ключи медиа сохранены. Любой, у кого есть этот файл, сможет воспроизвести запись: храните его так же надёжно, как саму встречу.',
};

/** @type {Record<string, Record<MessageId, Message>>} */
const messages = { en, ru };

/** The interface's languages, each named in itself (as a language menu must). */
export const LANGUAGES = /** @type {const} */ ([
  { code: 'en', name: 'English' },
  { code: 'ru', name: 'Русский' },
]);

const LANG_KEY = 'parley.lang';

/**
 * The language the user chose here before, else the first of the browser's that the catalogue
 * has (by primary subtag: en-GB is English), else English.
 * @returns {string}
 */
function pick() {
  try {
    const saved = localStorage.getItem(LANG_KEY);
    if (saved && saved in messages) return saved;
  } catch {
    /* storage closed: follow the browser */
  }
  const prefs = typeof navigator !== 'undefined' ? (navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language]) : [];
  for (const tag of prefs) {
    const primary = String(tag || '').split('-')[0].toLowerCase();
    if (primary in messages) return primary;
  }
  return 'en';
}

/** The interface language: a code of LANGUAGES. */
export let lang = pick();

let plurals = new Intl.PluralRules(lang);

/** @type {(() => void)[]} */
const listeners = [];

/**
 * The text of id in the interface language, its {name} placeholders filled from params. A text
 * with plural forms takes the form of params.count.
 * @param {MessageId} id
 * @param {Record<string, string | number>} [params]
 * @returns {string}
 */
export function t(id, params = {}) {
  let m = messages[lang][id] ?? en[id];
  if (m === undefined) return id;
  if (typeof m !== 'string') {
    const form = typeof params.count === 'number' ? plurals.select(params.count) : 'other';
    m = m[form] ?? m.other ?? '';
  }
  return m.replace(/\{(\w+)\}/g, (whole, k) => (k in params ? String(params[k]) : whole));
}

/**
 * A text with some placeholders as nodes (a name in bold, a number a script updates): the
 * text's pieces and the nodes in the order the language puts them.
 * @param {MessageId} id
 * @param {Record<string, string | number>} params
 * @param {Record<string, Node>} nodes
 * @returns {(string | Node)[]}
 */
export function tNodes(id, params, nodes) {
  /** @type {Record<string, string | number>} */
  const marked = { ...params };
  for (const k of Object.keys(nodes)) marked[k] = `\u0000${k}\u0000`;
  return t(id, marked).split('\u0000').map((s, i) => (i % 2 ? nodes[s] : s)).filter((s) => s !== '');
}

/**
 * Sets an element's text and attributes from its data-i18n and data-i18n-attr marks.
 * @param {ParentNode} root
 */
export function translatePage(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    el.textContent = t(/** @type {MessageId} */ (el.getAttribute('data-i18n')));
  }
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of (el.getAttribute('data-i18n-attr') || '').split(';')) {
      const [attr, id] = pair.split(':').map((s) => s.trim());
      if (attr && id) el.setAttribute(attr, t(/** @type {MessageId} */ (id)));
    }
  }
}

/** Translates the page at start: its static texts and its declared language. */
export function startI18n() {
  document.documentElement.lang = lang;
  translatePage(document);
}

/**
 * Calls fn after every change of language (the static texts are translated already): each
 * part of the page redraws what it wrote.
 * @param {() => void} fn
 */
export function onLanguageChange(fn) {
  listeners.push(fn);
}

/**
 * Switches the interface language at once, and remembers it in this browser.
 * @param {string} code
 */
export function setLanguage(code) {
  if (!(code in messages)) return;
  try {
    localStorage.setItem(LANG_KEY, code);
  } catch {
    /* private mode: the choice lasts as long as the page */
  }
  if (code === lang) return;
  lang = code;
  plurals = new Intl.PluralRules(lang);
  startI18n();
  for (const fn of listeners) fn();
}

/**
 * A language's name in the interface language ("ru" is "Russian" in English, «русский» in
 * Russian); standing alone (a menu item) it starts with a capital.
 * @param {string} code
 * @param {boolean} [standalone]
 * @returns {string}
 */
export function languageName(code, standalone = true) {
  try {
    const n = new Intl.DisplayNames([lang], { type: 'language' }).of(code);
    if (n && n.toLowerCase() !== code.toLowerCase()) return standalone ? n.charAt(0).toLocaleUpperCase(lang) + n.slice(1) : n;
  } catch {
    /* not a language code Intl knows */
  }
  return code.toUpperCase();
}

/**
 * A time of day as hours and minutes, the interface language's way.
 * @param {Date} d
 * @returns {string}
 */
export function clockTime(d) {
  return d.toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' });
}
