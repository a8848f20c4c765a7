;; The Windows station's installer (docs/windows.md, "The installer"),
;; built by packaging/windows/build.sh:
;;
;;   makensis -DVERSION=0.2.0 -DEXE=build-win/meson/agent/daiban.exe \
;;            -DOUTFILE=build-win/daiban-station-setup-0.2.0.exe packaging/windows/installer.nsi
;;
;; Installs daiban.exe to $PROGRAMFILES64\daiban, registers and starts the
;; service (`daiban service install`, agent/cmd-service.c), and puts the
;; shortcut 代办服务站 (http://127.0.0.1:8410/) in the Start menu and on
;; the desktop. An upgrade first backs the home up with the old
;; daiban.exe; a downgrade is refused (exit code 3). Silent with /S.
;; Uninstalling keeps the data unless 同时删除数据 is ticked (in /S only
;; with /DELETEDATA).
Unicode true
Target amd64-unicode
ManifestSupportedOS all
RequestExecutionLevel admin
SetCompressor /SOLID lzma

!ifndef VERSION
  !error "give -DVERSION=X.Y.Z -DEXE=daiban.exe -DOUTFILE=setup.exe"
!endif
!ifndef EXE
  !error "give -DEXE=daiban.exe"
!endif
!ifndef OUTFILE
  !error "give -DOUTFILE=setup.exe"
!endif

!include MUI2.nsh
!include LogicLib.nsh
!include WordFunc.nsh
!include x64.nsh
!include FileFunc.nsh
!include Sections.nsh

!define REGKEY    "Software\daiban"
!define UNINSTKEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\daiban"
!define URL       "http://127.0.0.1:8410/"
!define SHORTCUT  "代办服务站"
; the exit codes of a refusal
!define EXIT_DOWNGRADE 3
!define EXIT_BACKUP    4
!define EXIT_SERVICE   5

Name "$(Product)"
OutFile "${OUTFILE}"
InstallDir "$PROGRAMFILES64\daiban"
BrandingText "daiban ${VERSION}"
ShowInstDetails show
ShowUninstDetails show
VIProductVersion "${VERSION}.0"
VIAddVersionKey /LANG=0 "ProductName" "daiban"
VIAddVersionKey /LANG=0 "FileDescription" "代办服务站安装程序"
VIAddVersionKey /LANG=0 "FileVersion" "${VERSION}"
VIAddVersionKey /LANG=0 "ProductVersion" "${VERSION}"
VIAddVersionKey /LANG=0 "LegalCopyright" "daiban"

Var DataDir     ; %ProgramData%\daiban
Var Home        ; %ProgramData%\daiban\station (agent/home.c's default)
Var OldVersion  ; the version installed, or ""
Var SetupCode   ; the first run's one-time code, when the home is new

!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_TITLE "$(FinishTitle)"
!define MUI_FINISHPAGE_TEXT "$(FinishText)"
!define MUI_FINISHPAGE_LINK "$(OpenStation)"
!define MUI_FINISHPAGE_LINK_LOCATION "${URL}"
!define MUI_FINISHPAGE_NOREBOOTSUPPORT
!define MUI_COMPONENTSPAGE_NODESC

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_COMPONENTS
!insertmacro MUI_UNPAGE_INSTFILES

; Chinese first: the installer's language unless Windows' own is another
!insertmacro MUI_LANGUAGE "SimpChinese"
!insertmacro MUI_LANGUAGE "English"

LangString Product ${LANG_SIMPCHINESE} "代办服务站 ${VERSION}"
LangString Product ${LANG_ENGLISH} "daiban station ${VERSION}"
LangString Downgrade ${LANG_SIMPCHINESE} "本机已安装较新的版本 $OldVersion，不能降级安装 ${VERSION}。"
LangString Downgrade ${LANG_ENGLISH} "A newer version, $OldVersion, is installed: ${VERSION} will not replace it."
LangString Backup ${LANG_SIMPCHINESE} "升级前备份数据到 $DataDir\upgrade-backups …"
LangString Backup ${LANG_ENGLISH} "Backing the data up to $DataDir\upgrade-backups before the upgrade…"
LangString BackupFailed ${LANG_SIMPCHINESE} "升级前的备份失败，未作任何更改。请查看详细信息。"
LangString BackupFailed ${LANG_ENGLISH} "The backup before the upgrade failed; nothing was changed. See the details."
LangString ServiceFailed ${LANG_SIMPCHINESE} "代办服务站的 Windows 服务未能安装或启动，请查看详细信息。"
LangString ServiceFailed ${LANG_ENGLISH} "The station's Windows service did not install or start; see the details."
LangString FinishTitle ${LANG_SIMPCHINESE} "代办服务站已安装"
LangString FinishTitle ${LANG_ENGLISH} "The station is installed"
LangString FinishText ${LANG_SIMPCHINESE} "服务站已作为 Windows 服务运行，开机自动启动。$\r$\n$\r$\n用桌面上的“${SHORTCUT}”图标打开（${URL}）。$SetupCode"
LangString FinishText ${LANG_ENGLISH} "The station runs as a Windows service and starts with Windows.$\r$\n$\r$\nOpen it with the ${SHORTCUT} icon on the desktop (${URL}).$SetupCode"
LangString SetupCodeText ${LANG_SIMPCHINESE} "$\r$\n$\r$\n首次设置的一次性设置码："
LangString SetupCodeText ${LANG_ENGLISH} "$\r$\n$\r$\nThe first run's one-time code: "
LangString OpenStation ${LANG_SIMPCHINESE} "打开代办服务站"
LangString OpenStation ${LANG_ENGLISH} "Open the station"
LangString DeleteData ${LANG_SIMPCHINESE} "同时删除数据"
LangString DeleteData ${LANG_ENGLISH} "Delete the data too"

Function .onInit
        SetShellVarContext all
        SetRegView 64
        StrCpy $DataDir "$APPDATA\daiban"
        StrCpy $Home "$DataDir\station"
        ReadRegStr $OldVersion HKLM "${REGKEY}" "Version"
        ${If} $OldVersion != ""
                ; 1: the installed one is newer
                ${VersionCompare} $OldVersion "${VERSION}" $0
                ${If} $0 == 1
                        MessageBox MB_ICONSTOP|MB_OK "$(Downgrade)" /SD IDOK
                        SetErrorLevel ${EXIT_DOWNGRADE}
                        Quit
                ${EndIf}
                ReadRegStr $0 HKLM "${REGKEY}" "InstallDir"
                ${If} $0 != ""
                        StrCpy $INSTDIR $0
                ${EndIf}
                ReadRegStr $0 HKLM "${REGKEY}" "Home"
                ${If} $0 != ""
                        StrCpy $Home $0
                ${EndIf}
        ${EndIf}
FunctionEnd

Section "daiban" SecMain
        SectionIn RO
        SetShellVarContext all
        SetRegView 64
        SetOutPath "$INSTDIR"
        ${If} ${FileExists} "$INSTDIR\daiban.exe"
                ; an upgrade: the home backed up by the daiban.exe that wrote
                ; it (the station keeps serving meanwhile), then its service
                ; stopped and removed so that the program can be replaced
                ${If} ${FileExists} "$Home\store.db"
                        DetailPrint "$(Backup)"
                        nsExec::ExecToLog '"$INSTDIR\daiban.exe" backup --home "$Home" --to "$DataDir\upgrade-backups" --keep 5'
                        Pop $0
                        ${If} $0 != 0
                                MessageBox MB_ICONSTOP|MB_OK "$(BackupFailed)" /SD IDOK
                                SetErrorLevel ${EXIT_BACKUP}
                                Abort
                        ${EndIf}
                ${EndIf}
                nsExec::ExecToLog '"$INSTDIR\daiban.exe" service uninstall'
                Pop $0
        ${EndIf}
        File "/oname=daiban.exe" "${EXE}"
        WriteUninstaller "$INSTDIR\uninstall.exe"

        WriteRegStr HKLM "${REGKEY}" "Version" "${VERSION}"
        WriteRegStr HKLM "${REGKEY}" "InstallDir" "$INSTDIR"
        WriteRegStr HKLM "${REGKEY}" "Home" "$Home"
        WriteRegStr HKLM "${UNINSTKEY}" "DisplayName" "代办服务站 (daiban)"
        WriteRegStr HKLM "${UNINSTKEY}" "DisplayVersion" "${VERSION}"
        WriteRegStr HKLM "${UNINSTKEY}" "Publisher" "daiban"
        WriteRegStr HKLM "${UNINSTKEY}" "DisplayIcon" "$INSTDIR\daiban.exe"
        WriteRegStr HKLM "${UNINSTKEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
        WriteRegStr HKLM "${UNINSTKEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
        WriteRegDWORD HKLM "${UNINSTKEY}" "NoModify" 1
        WriteRegDWORD HKLM "${UNINSTKEY}" "NoRepair" 1

        ; Start menu and desktop: an internet shortcut, opened by the
        ; default browser
        WriteINIStr "$SMPROGRAMS\${SHORTCUT}.url" "InternetShortcut" "URL" "${URL}"
        WriteINIStr "$DESKTOP\${SHORTCUT}.url" "InternetShortcut" "URL" "${URL}"

        ; the service: the home's access list, start with Windows, start now
        nsExec::ExecToLog '"$INSTDIR\daiban.exe" service install --home "$Home"'
        Pop $0
        ${If} $0 != 0
                MessageBox MB_ICONSTOP|MB_OK "$(ServiceFailed)" /SD IDOK
                SetErrorLevel ${EXIT_SERVICE}
                Abort
        ${EndIf}

        ; a new home: the browser shows the first-run page, which asks for
        ; the code the daemon writes beside the home (agent/setup.h)
        ${IfNot} ${FileExists} "$Home\store.db"
                StrCpy $1 0
                ${Do}
                        ${If} ${FileExists} "$Home.setup-code"
                        ${OrIf} $1 >= 20
                                ${ExitDo}
                        ${EndIf}
                        Sleep 500
                        IntOp $1 $1 + 1
                ${Loop}
                ClearErrors
                FileOpen $2 "$Home.setup-code" r
                ${IfNot} ${Errors}
                        FileRead $2 $3 9
                        FileClose $2
                        StrCpy $SetupCode "$(SetupCodeText)$3"
                        DetailPrint "$(SetupCodeText)$3"
                ${EndIf}
        ${EndIf}
SectionEnd


Section "-un.program"
        SetShellVarContext all
        SetRegView 64
        nsExec::ExecToLog '"$INSTDIR\daiban.exe" service uninstall'
        Pop $0
        Delete "$INSTDIR\daiban.exe"
        Delete "$INSTDIR\uninstall.exe"
        RMDir "$INSTDIR"
        Delete "$SMPROGRAMS\${SHORTCUT}.url"
        Delete "$DESKTOP\${SHORTCUT}.url"
        DeleteRegKey HKLM "${UNINSTKEY}"
        DeleteRegKey HKLM "${REGKEY}"
SectionEnd

; unticked unless the person ticks it: /S keeps the data
Section /o "un.$(DeleteData)" SecData
        RMDir /r "$Home"
        RMDir /r "$Home.setup-new"
        Delete "$Home.setup-code"
        Delete "$Home.log"
        RMDir /r "$DataDir\upgrade-backups"
        RMDir "$DataDir"
SectionEnd

Function un.onInit
        SetShellVarContext all
        SetRegView 64
        StrCpy $DataDir "$APPDATA\daiban"
        ReadRegStr $Home HKLM "${REGKEY}" "Home"
        ${If} $Home == ""
                StrCpy $Home "$DataDir\station"
        ${EndIf}
        ; /DELETEDATA ticks 同时删除数据 (for /S, which keeps the data otherwise)
        ${GetParameters} $0
        ClearErrors
        ${GetOptions} $0 "/DELETEDATA" $1
        ${IfNot} ${Errors}
                !insertmacro SelectSection ${SecData}
        ${EndIf}
FunctionEnd
