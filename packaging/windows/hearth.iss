; Inno Setup script for Hearth on Windows (x64), in two variants built from the same script:
;
;   ISCC /DAppVersion=0.1.0 /DVariant=cpu  /DBundleDir=..\..\dist\Hearth /DOutputDir=..\..\dist hearth.iss
;   ISCC /DAppVersion=0.1.0 /DVariant=cuda /DBundleDir=..\..\dist\Hearth /DOutputDir=..\..\dist hearth.iss
;
; BundleDir is PyInstaller's output (packaging/hearth.spec: Hearth.exe for the window, hearth-cli.exe
; for the command line); relative paths are relative to this file. The release workflow
; (.github/workflows/release.yml) runs exactly these commands. Both variants share one AppId, so
; installing one replaces the other in place. Uninstalling keeps the user's models and chats
; (%LOCALAPPDATA%\Hearth); the uninstaller says where they are.

#ifndef AppVersion
  #error Pass the version: ISCC /DAppVersion=X.Y.Z
#endif
#ifndef NumericVersion
  ; the Windows version resource wants digits only (X.Y.Z[.W]); pass it for pre-releases
  #define NumericVersion AppVersion
#endif
#ifndef Variant
  #define Variant "cpu"
#endif
#ifndef BundleDir
  #define BundleDir "..\..\dist\Hearth"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif
#if Variant == "cuda"
  #define VariantName "NVIDIA CUDA"
#else
  #define VariantName "CPU"
#endif

[Setup]
; One id for every variant and version: upgrades and variant switches replace the installed copy.
AppId={{6F4B2C1E-8A57-4D8B-9E2A-3C5D7F9A1B24}
AppName=Hearth
AppVersion={#AppVersion}
AppVerName=Hearth {#AppVersion} ({#VariantName})
AppPublisher=Hearth
AppComments=Chat with large language models entirely on your own computer.
VersionInfoVersion={#NumericVersion}
VersionInfoProductName=Hearth
VersionInfoDescription=Hearth {#VariantName} installer
; Per-user by default (no UAC prompt); the dialog lets an administrator install for all users.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
DefaultDirName={autopf}\Hearth
DefaultGroupName=Hearth
DisableProgramGroupPage=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
WizardStyle=modern
SetupIconFile=..\..\resources\icons\hearth.ico
UninstallDisplayIcon={app}\Hearth.exe
UninstallDisplayName=Hearth ({#VariantName})
OutputDir={#OutputDir}
OutputBaseFilename=Hearth-{#AppVersion}-windows-x64-{#Variant}-setup
Compression=lzma2/max
SolidCompression=yes
; Hearth must not be running while its files are replaced.
CloseApplications=yes
RestartApplications=no

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; An update must not leave files of the previous bundle behind (a stale DLL would be loaded).
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{group}\Hearth"; Filename: "{app}\Hearth.exe"; Comment: "Chat with local language models"
Name: "{group}\{cm:UninstallProgram,Hearth}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\Hearth"; Filename: "{app}\Hearth.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\Hearth.exe"; Description: "{cm:LaunchProgram,Hearth}"; Flags: nowait postinstall skipifsilent

[Code]
procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if (CurUninstallStep = usPostUninstall) and not UninstallSilent then
    MsgBox('Hearth is removed. Your models and chats are still in ' +
      ExpandConstant('{localappdata}\Hearth') + '; delete that folder to remove them too.',
      mbInformation, MB_OK);
end;
